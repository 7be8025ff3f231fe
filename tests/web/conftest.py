"""Web page tests share the app, client, clock and user fixtures of tests/test_web_access.py (both engines)."""

from tests.test_web_access import app, client, clock, database_url, make_user  # noqa: F401  (fixtures)
