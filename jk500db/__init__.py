"""JK500 trial database: models, clinical rules, services, exports and command line.

This package never imports Flask: the web UI in ``admin/`` adapts it to the web.
"""

__version__ = "0.1.0"
