"""The ``jk500db`` command line.

Each command opens one session, calls services (which flush), and commits once at the end. Errors users can
act on are printed as one sentence, without a traceback. Exit codes follow sysexits(3): 0 success, 2 usage
(click), 65 bad input data, 69 database unreachable, 78 configuration, 1 anything else.
"""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import ipaddress
import os
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context, system_context
from jk500db.config import DEFAULT_INSTANCE_DIR, database_url
from jk500db.db import create_engine
from jk500db.errors import ConfigurationError, DatabaseNotReady, Jk500Error, ValidationError
from jk500db.models import User
from jk500db.models.vocabularies import RoleCode

EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_CONFIG = 78

DEMO_CREDENTIALS_FILE = "demo_credentials.txt"

F = TypeVar("F", bound=Callable[..., Any])


class CliError(click.ClickException):
    """A failure with its own exit code; click prints 'Error: <message>'."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _instance_dir() -> Path:
    return Path(os.environ.get("JK500DB_INSTANCE_DIR", DEFAULT_INSTANCE_DIR))


@contextmanager
def _database(
    process: str | None = None, *, reason: str | None = None, require_current: bool = True
) -> Iterator[tuple[sa.Engine, Session]]:
    """An engine and a session for the configured database, mapping failures to clean errors.

    ``process`` names the command in the audit trail: every write the session makes is attributed to it.
    """
    try:
        url = database_url()
    except ConfigurationError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        try:
            with engine.connect() as conn:
                if require_current:
                    migrate.ensure_current(conn)
                else:
                    migrate.ensure_known_revision(conn)
        except sa.exc.OperationalError as exc:
            raise CliError(
                f"cannot open the database at {url.render_as_string(hide_password=True)}: "
                f"{str(exc.orig).strip().splitlines()[0]}",
                EX_UNAVAILABLE,
            ) from None
        except DatabaseNotReady as exc:
            message = str(exc).rstrip(".") + "."
            raise CliError(message + (" Run `jk500db init` first." if require_current else ""), EX_CONFIG) from None
        with Session(engine, expire_on_commit=False) as session:
            if process is not None:
                who = f"{process} (run by {getpass.getuser()})"
                set_change_context(session, system_context(who, reason=reason))
            yield engine, session
    finally:
        engine.dispose()


def _handle_errors(func: F) -> F:
    """Turn the package's own errors into one-line messages with the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            raise CliError(str(exc), EX_DATAERR) from None
        except ConfigurationError as exc:
            raise CliError(str(exc), EX_CONFIG) from None
        except Jk500Error as exc:
            raise CliError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _resolve(host: str) -> str:
    """The address ``host`` names ("localhost" is a name, not an address)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.gethostbyname(host)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jk500db")
def main() -> None:
    """JK500 trial database. The database comes from JK500DB_DATABASE_URL (default: ./instance/jk500db.sqlite3)."""


@main.command()
@click.option("--demo", is_flag=True, help="Also load the synthetic 12-child demo cohort and one demo user per role.")
@_handle_errors
def init(demo: bool) -> None:
    """Create or upgrade the database and load the study definition and reference data (idempotent)."""
    from jk500db.services.accounts import create_demo_users, ensure_roles
    from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
    from jk500db.services.terminology import load_ctcae_terms

    with _database(require_current=False) as (engine, _probe):
        migrate.upgrade(engine)
    with _database("jk500db init", reason="study definition and reference data loaded") as (_engine, session):
        ensure_roles(session)
        definition = load_study_definition(session)
        added_terms = load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
        credentials: dict[RoleCode, tuple[str, str]] = {}
        added_subjects = 0
        if demo:
            from jk500db.demo.cohort import load_demo_cohort

            added_subjects = load_demo_cohort(session)
            credentials = create_demo_users(session, now=_now())
        session.commit()
    click.echo(f"Database at migration {migrate.head_revision()}.")
    click.echo(f"Study definition {definition.label} (version {definition.version}) in force.")
    click.echo(f"CTCAE v5.0 terms added: {added_terms}.")
    if demo:
        click.echo(f"Synthetic demo subjects added: {added_subjects}.")
        _save_demo_credentials(credentials)
        _print_demo_credentials(credentials)


def _save_demo_credentials(credentials: dict[RoleCode, tuple[str, str]]) -> None:
    """Kept in the instance folder (never committed) so `jk500db serve` can print them at start."""
    folder = _instance_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DEMO_CREDENTIALS_FILE
    path.write_text("".join(f"{role.value}\t{email}\t{password}\n" for role, (email, password) in credentials.items()))
    path.chmod(0o600)


def _print_demo_credentials(credentials: dict[RoleCode, tuple[str, str]]) -> None:
    click.echo("Demo logins (synthetic data only; these accounts exist in demo databases alone):")
    for role, (email, password) in credentials.items():
        click.echo(f"  {role.value:<13} {email:<40} {password}")


def _read_demo_credentials() -> dict[RoleCode, tuple[str, str]]:
    path = _instance_dir() / DEMO_CREDENTIALS_FILE
    if not path.exists():
        return {}
    result = {}
    for line in path.read_text().splitlines():
        role, email, password = line.split("\t")
        result[RoleCode(role)] = (email, password)
    return result


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@_handle_errors
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web UI with the waitress production WSGI server."""
    import waitress

    from admin import create_app

    with _database() as (_engine, session):  # fails early, with a clean message, when the database is not ready
        demo_database = bool(session.scalar(sa.select(sa.func.count()).select_from(User).where(User.demo)))
    config: dict[str, Any] = {}
    if demo_database:
        # Demo accounts may log in only to a demo database. Plain http is acceptable only for a demo served on
        # this computer; anywhere else the session cookie stays Secure and the app must sit behind HTTPS.
        config = {"JK500DB_DEMO": True, "SESSION_COOKIE_SECURE": not ipaddress.ip_address(_resolve(host)).is_loopback}
    app = create_app(config)
    credentials = _read_demo_credentials() if demo_database else {}
    if credentials:
        _print_demo_credentials(credentials)
    click.echo(f"Serving the JK500 database at http://{host}:{port}/ (Ctrl+C to stop)")
    waitress.serve(app, host=host, port=port, threads=threads, ident="jk500db")


@main.group()
def user() -> None:
    """Manage user accounts."""


@user.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in RoleCode]), help="The user's role.")
@click.option("--name", "full_name", prompt="Printed name", help="Printed name, as it appears in signatures.")
@click.argument("email")
@click.password_option(prompt="Password", confirmation_prompt=True)
@_handle_errors
def user_create(role: str, full_name: str, email: str, password: str) -> None:
    """Create a user account with ROLE and EMAIL; the password is prompted for, never passed as an argument."""
    from jk500db.services.accounts import create_user, ensure_roles

    with _database("jk500db user create", reason="account created") as (_engine, session):
        ensure_roles(session)
        created = create_user(session, email=email, full_name=full_name, role=RoleCode(role), password=password)
        session.commit()
        click.echo(f"Created {created.email} ({created.role_code.value}).")


@main.command()
@click.option("--subjects", required=True, type=click.IntRange(1, 100_000), help="Number of synthetic subjects.")
@click.option(
    "--sites", default=1, show_default=True, type=click.IntRange(1, 98), help="Number of extra sites (02-99)."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same study).")
@_handle_errors
def demo(subjects: int, sites: int, seed: int) -> None:
    """Generate a larger synthetic multi-site study for load testing and benchmarks."""
    from jk500db.demo.generator import generate_study

    with _database("jk500db demo", reason="synthetic study generated") as (_engine, session):
        try:
            summary = generate_study(session, subjects=subjects, sites=sites, seed=seed)
        except ValueError as exc:
            raise CliError(str(exc), EX_DATAERR) from None
        session.commit()
    click.echo(f"Generated {summary}.")


@main.command()
@_handle_errors
def derive() -> None:
    """Recompute every derived value: after a change of rule settings, an unlock, or a raw-SQL correction."""
    from jk500db.derivations import recompute_all

    with _database("jk500db derive", reason="derived values recomputed on request") as (_engine, session):
        count = recompute_all(session)
        session.commit()
    click.echo(f"Recomputed the derived values of {count} subject(s).")


@main.group()
def audit() -> None:
    """Check and export the audit trail."""


@audit.command("verify")
@_handle_errors
def audit_verify() -> None:
    """Walk the hash chain and compare every live row with its last audited state; non-zero exit if damaged."""
    from jk500db.audit.verify import verify

    with _database() as (engine, _session), engine.connect() as connection:
        report = verify(connection)
    if report.intact:
        click.echo(f"Audit trail intact: {report.events} events; head hash {report.head_hash or '(empty chain)'}.")
        return
    first = report.first()
    assert first is not None
    where = f"event {first.event_id}: " if first.event_id is not None else ""
    click.echo(f"Audit trail DAMAGED: {where}{first.kind} ({first.detail}).", err=True)
    for damage in report.damage[1:]:
        click.echo(f"  also: {damage.kind}: {damage.detail}", err=True)
    click.echo(f"{report.events} events checked.", err=True)
    raise SystemExit(EX_DATAERR)


@audit.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="CSV file to write.")
@click.option("--subject", "subject_number", default=None, help="Only this subject's events (e.g. 01-003).")
@_handle_errors
def audit_export(out: Path, subject_number: str | None) -> None:
    """Write the audit trail (the whole study's, or one subject's) as CSV, ending with the chain head hash."""
    from jk500db.audit.export import export_audit_file

    with _database() as (engine, _session), engine.connect() as connection:
        try:
            summary = export_audit_file(connection, out, subject_number=subject_number)
        except LookupError as exc:
            raise CliError(str(exc), EX_DATAERR) from None
    click.echo(f"Wrote {summary.events} events to {out}; chain head hash {summary.head_hash or '(empty chain)'}.")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
