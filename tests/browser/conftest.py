"""Browser tests: Playwright drives Debian's headless Chromium against the app served over real HTTP.

The browser is the distribution's ``/usr/bin/chromium`` (``apt-get install chromium``), never one fetched by
``playwright install``: it is the one the operating system keeps patched. ``JK500DB_TEST_CHROMIUM`` names
another executable. Without Chromium the tests are skipped, unless ``JK500DB_REQUIRE_BROWSER=1`` (as in CI),
which turns the skip into a failure; ``pytest_sessionfinish`` in tests/conftest.py then also fails a run in
which a browser test was skipped or none passed.

Each test module gets its own copy of a demo database (``jk500db init --demo``, built once per session), so a
module may change data without disturbing the others, and its own server on a free port of 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import shutil
import threading
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy.orm import Session
from werkzeug.serving import BaseWSGIServer, make_server

from admin import create_app
from admin.extensions import db
from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.db import create_engine
from jk500db.demo.cohort import load_demo_cohort
from jk500db.demo.signoff import sign_demo_eligibility
from jk500db.models import User
from jk500db.models.vocabularies import RoleCode
from jk500db.services.accounts import create_demo_users, ensure_roles
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms

CHROMIUM_VARIABLE = "JK500DB_TEST_CHROMIUM"
REQUIRE_BROWSER_VARIABLE = "JK500DB_REQUIRE_BROWSER"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
#: Long enough for a loaded CI machine, short enough that a missing element fails within seconds.
TIMEOUT_MS = 10_000
#: Under the repository's test-output/ (git-ignored), where CI can collect them as artefacts.
SCREENSHOT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

# expect() waits 5 s by default; give it the same patience as every other Playwright call.
expect.set_options(timeout=TIMEOUT_MS)


@dataclass(frozen=True)
class DemoAccount:
    """A demo account: what to type in the login form, and the name the app shows once logged in."""

    email: str
    password: str
    full_name: str


@dataclass(frozen=True)
class DemoDatabase:
    path: Path
    logins: Mapping[RoleCode, DemoAccount]


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    database_url: str
    logins: Mapping[RoleCode, DemoAccount]


# --- helpers for the tests ---------------------------------------------------------------------------------


def new_context(browser: Browser, base_url: str) -> BrowserContext:
    """A browser context of its own (no cookies or storage shared), with the suite's timeout."""
    context = browser.new_context(base_url=base_url)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def submit_login(page: Page, email: str, password: str) -> None:
    """Fill in the login form already on ``page`` and send it, as a person would: by its labels and button."""
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    # Wait for the page the form leads to (home, or the login page again), not merely for the click.
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def login(page: Page, base_url: str, email: str, password: str) -> None:
    """Open the login page and log in through the real form."""
    page.goto(f"{base_url}/login")
    submit_login(page, email, password)


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-output/screenshots/<name>.png and return the path."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"a screenshot name is a plain file name, not {name!r}")
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


# --- the demo database and the server ----------------------------------------------------------------------


def _build_demo_database(path: Path) -> dict[RoleCode, DemoAccount]:
    """What `jk500db init --demo` does, through the same services; returns the demo logins."""
    engine = create_engine(f"sqlite:///{path}")
    try:
        migrate.upgrade(engine)
        with Session(engine, expire_on_commit=False) as session:
            set_change_context(session, system_context("pytest browser tests", reason="demo database for the UI"))
            ensure_roles(session)
            load_study_definition(session)
            load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
            load_demo_cohort(session)
            credentials = create_demo_users(session, now=dt.datetime.now(dt.UTC))
            sign_demo_eligibility(session)
            session.commit()
            names = dict(session.execute(sa.select(User.email, User.full_name).where(User.demo)).tuples().all())
    finally:
        engine.dispose()  # closes the file, so it can be copied whole
    return {role: DemoAccount(email, password, names[email]) for role, (email, password) in credentials.items()}


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory) -> DemoDatabase:
    """A demo database built once per session (loading the cohort and hashing five passwords takes seconds)."""
    path = tmp_path_factory.mktemp("browser-demo") / "demo.sqlite3"
    return DemoDatabase(path, _build_demo_database(path))


def _demo_app(database_url: str, instance_path: Path) -> Flask:
    # The configuration `jk500db serve` gives a demo database served on this computer: demo accounts may log
    # in and the session cookie may travel over plain http. Not TESTING, so the app behaves as served.
    return create_app(
        {
            "DATABASE_URL": database_url,
            "JK500DB_DEMO": True,
            "SESSION_COOKIE_SECURE": False,
            "SECRET_KEY": secrets.token_hex(32),
            "INSTANCE_PATH": instance_path,
        }
    )


@pytest.fixture(scope="module")
def live_server(demo_database: DemoDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's copy of the demo database, served by a threaded werkzeug server on a free local port."""
    folder = tmp_path_factory.mktemp("browser-server")
    database = folder / "demo.sqlite3"
    shutil.copyfile(demo_database.path, database)
    database_url = f"sqlite:///{database}"
    app = _demo_app(database_url, folder / "instance")
    # Threaded: the browser fetches a page's stylesheets and scripts in parallel, as it would from waitress.
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", database_url, demo_database.logins)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        with app.app_context():
            for engine in db.engines.values():
                engine.dispose()


@pytest.fixture(scope="module")
def base_url(live_server: LiveServer) -> str:
    return live_server.base_url


# --- the browser -------------------------------------------------------------------------------------------


def _chromium() -> Path:
    return Path(os.environ.get(CHROMIUM_VARIABLE) or DEBIAN_CHROMIUM)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the whole session; tests isolate themselves with their own context."""
    executable = _chromium()
    if not os.access(executable, os.X_OK):
        reason = f"browser tests need Chromium at {executable} (Debian: apt-get install chromium)"
        if os.environ.get(REQUIRE_BROWSER_VARIABLE) == "1":
            pytest.fail(f"{REQUIRE_BROWSER_VARIABLE}=1 but {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so the ``page`` fixture knows whether its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies or storage from other tests); on failure, a screenshot."""
    context = new_context(browser, base_url)
    page = context.new_page()
    try:
        yield page
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            screenshot(page, "FAILED-" + re.sub(r"[^\w.-]", "_", request.node.name))
    finally:
        context.close()
