"""The Flask extensions, created once and bound to each app by ``create_app`` (so tests can build many apps)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

import jk500db.db
from jk500db.models import Base


class Database(SQLAlchemy):
    """Flask-SQLAlchemy whose engines come from ``jk500db.db.create_engine``.

    The web app then opens SQLite exactly as the CLI and the tests do (foreign keys on, busy timeout,
    synchronous=FULL, SQLAlchemy-emitted BEGIN so SAVEPOINTs work) instead of with bare defaults. Flask-SQLAlchemy
    is kept for the request-scoped session it removes at teardown and because Flask-Admin's ModelView takes it
    (passing a bare session is deprecated since Flask-Admin 2.1). ``_make_engine`` is its one engine hook;
    tests/test_web_access.py checks the pragmas through ``db.session`` so an upgrade that bypasses it fails.
    """

    def _make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> sa.Engine:
        options = dict(options)
        return jk500db.db.create_engine(options.pop("url"), **options)


#: The models subclass jk500db.models.Base, which knows nothing of Flask. ``model_class=Base`` cannot be used:
#: Flask-SQLAlchemy 3.1 copies the base's registry *and* its type_annotation_map into a new class, which
#: SQLAlchemy refuses (pallets-eco/flask-sqlalchemy#1361). Sharing the metadata is all the app needs;
#: ``db.Model`` stays unused. expire_on_commit=False as in jk500db.db.session_factory.
db = Database(metadata=Base.metadata, session_options={"expire_on_commit": False})

csrf = CSRFProtect()

login_manager = LoginManager()


def utcnow() -> dt.datetime:
    """The app's clock (config ``JK500DB_CLOCK``), so tests can move time; always aware UTC."""
    now: dt.datetime = current_app.config["JK500DB_CLOCK"]()
    if now.tzinfo is None:
        raise RuntimeError("JK500DB_CLOCK must return a timezone-aware datetime")
    return now.astimezone(dt.UTC)
