"""Where the database is: ``JK500DB_DATABASE_URL``, or an SQLite file in ./instance/.

Also where exports asked for on the web page are kept, and for how long: ``JK500DB_EXPORT_DIR`` (default
``exports/`` in the instance folder) and ``JK500DB_EXPORT_RETENTION_HOURS`` (default 24).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from jk500db.errors import ConfigurationError

DATABASE_URL_VARIABLE = "JK500DB_DATABASE_URL"
DEFAULT_INSTANCE_DIR = Path("instance")
DEFAULT_SQLITE_NAME = "jk500db.sqlite3"
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
EXPORT_DIR_VARIABLE = "JK500DB_EXPORT_DIR"
EXPORT_RETENTION_VARIABLE = "JK500DB_EXPORT_RETENTION_HOURS"
#: The web page's export ZIPs live in this folder of the instance folder unless JK500DB_EXPORT_DIR says otherwise.
DEFAULT_EXPORT_DIR_NAME = "exports"
#: Hours a finished export's ZIP is kept for download. Identified data must not sit on the server for good: a day
#: is long enough to fetch a file asked for the evening before.
DEFAULT_EXPORT_RETENTION_HOURS = 24


def default_database_url(instance_dir: Path = DEFAULT_INSTANCE_DIR) -> str:
    """The embedded default: an SQLite file in the working directory's instance folder."""
    return f"sqlite:///{(instance_dir / DEFAULT_SQLITE_NAME).resolve()}"


def database_url(explicit: str | None = None) -> URL:
    """The database URL to use, validated; raises ConfigurationError with a message a user can act on."""
    raw = explicit or os.environ.get(DATABASE_URL_VARIABLE) or default_database_url()
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigurationError(
            f"{DATABASE_URL_VARIABLE}: {raw!r} is not a database URL "
            "(expected e.g. sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user@host/dbname)"
        ) from None
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigurationError(
            f"{DATABASE_URL_VARIABLE}: the {url.get_backend_name()!r} database is not supported "
            f"(use SQLite or PostgreSQL)"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() not in ("psycopg", None):
        raise ConfigurationError(
            f"{DATABASE_URL_VARIABLE}: use the psycopg 3 driver (postgresql+psycopg://...), "
            f"not {url.get_driver_name()!r}"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ConfigurationError(
            f"{DATABASE_URL_VARIABLE}: an in-memory SQLite database loses every record when the process "
            "ends; give a file path (sqlite:///path/to/file.sqlite3)"
        )
    return url


def export_dir(explicit: str | Path | None = None, *, instance_dir: Path = DEFAULT_INSTANCE_DIR) -> Path:
    """The folder for the web page's export ZIPs: ``explicit``, ``JK500DB_EXPORT_DIR``, or ``<instance>/exports``."""
    raw = explicit or os.environ.get(EXPORT_DIR_VARIABLE)
    folder = Path(raw) if raw else Path(instance_dir) / DEFAULT_EXPORT_DIR_NAME
    return folder.expanduser().resolve()


def export_retention_hours(explicit: int | str | None = None) -> int:
    """Hours a finished export's ZIP is kept: ``explicit``, ``JK500DB_EXPORT_RETENTION_HOURS``, or 24."""
    raw = explicit if explicit is not None else os.environ.get(EXPORT_RETENTION_VARIABLE)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_EXPORT_RETENTION_HOURS
    try:
        hours = int(raw)
    except ValueError:
        raise ConfigurationError(f"{EXPORT_RETENTION_VARIABLE}: {raw!r} is not a whole number of hours") from None
    if isinstance(raw, bool) or hours < 1:
        raise ConfigurationError(f"{EXPORT_RETENTION_VARIABLE}: keep export files at least 1 hour, not {raw!r}")
    return hours
