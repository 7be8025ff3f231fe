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
from jk500db.export.context import ExportFormat
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
            from jk500db.demo.signoff import sign_demo_eligibility

            added_subjects = load_demo_cohort(session)
            credentials = create_demo_users(session, now=_now())
            sign_demo_eligibility(session)  # LK-03: treated children's eligibility signed before their first dose
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
    "--sites",
    type=click.IntRange(1, 98),
    help="Number of extra sites (02-99). Default: the fewest that hold the subjects at 999 a site, at least 1.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same study).")
@_handle_errors
def demo(subjects: int, sites: int | None, seed: int) -> None:
    """Generate a larger synthetic multi-site study for load testing and benchmarks.

    On PostgreSQL the database is then vacuumed and its planner statistics refreshed (VACUUM ANALYZE), as
    autovacuum would do in time, so the pages are as fast at once as on a server in use."""
    from jk500db.demo import MAX_GENERATED_SUBJECTS, generate_study, sites_for

    if sites is None:
        if subjects > MAX_GENERATED_SUBJECTS:
            raise CliError(
                f"--subjects: at most {MAX_GENERATED_SUBJECTS} (98 extra sites of 999 subjects each)", EX_DATAERR
            )
        sites = sites_for(subjects)
    with _database("jk500db demo", reason="synthetic study generated") as (engine, session):
        try:
            summary = generate_study(session, subjects=subjects, sites=sites, seed=seed)
        except ValueError as exc:
            raise CliError(str(exc), EX_DATAERR) from None
        session.commit()
        click.echo(f"Generated {summary}.")
        if engine.dialect.name == "postgresql":
            _vacuum_analyze(engine)
            click.echo("Vacuumed and planner statistics refreshed (VACUUM ANALYZE).")


def _vacuum_analyze(engine: sa.Engine) -> None:
    """After a bulk load, do on PostgreSQL what autovacuum would soon do on a server in use (and never does on
    one where it is off): refresh the planner's statistics and vacuum.

    Without statistics the planner takes the tables for nearly empty and picks plans that are slow on the real
    sizes: the status matrix took 300-390 ms instead of 20-40 right after generating 2,000 subjects. Vacuuming
    removes the row versions the derivation pass left behind (it updates every lab result once) and marks the
    pages all-visible, so counts can read an index alone (the lab list's count: 125 ms by the table, 30 ms by
    ix_lab_result_live). It takes seconds at 2,000 subjects (4 s for the 9.9 million audit events). SQLite is
    left as its page timings were measured, without planner statistics."""
    # VACUUM refuses to run inside a transaction block.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM (ANALYZE)")


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



def _parse_as_of(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--as-of: {text!r} is not an ISO 8601 time such as 2026-11-24T09:00:00Z", EX_DATAERR) from None
    if moment.tzinfo is None:
        raise CliError("--as-of: give the time with its UTC offset, e.g. 2026-11-24T09:00:00Z", EX_DATAERR)
    return moment.astimezone(dt.UTC)


@main.command("export")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="New folder.")
@click.option(
    "--format",
    "formats",
    multiple=True,
    default=("all",),
    show_default=True,
    type=click.Choice(["all", *(f.value for f in ExportFormat)]),
    help="What to export; repeat for several.",
)
@click.option("--as-of", "as_of", default=None, help="Rebuild the data as they stood then (ISO 8601 with offset).")
@click.option("--identified", is_flag=True, help="Include birth dates and names (administrators only).")
@click.option("--user", "email", required=True, help="Your account's e-mail; the export is recorded under it.")
@click.password_option(
    prompt="Password", confirmation_prompt=False, envvar="JK500DB_PASSWORD", help="Your password (or JK500DB_PASSWORD)."
)
@_handle_errors
def export(out: Path, formats: tuple[str, ...], as_of: str | None, identified: bool, email: str, password: str) -> None:
    """Export the study for analysis: tidy data, SDTM, ADaM, ODM, tables, plots and the audit tables.

    De-identified unless --identified. Every export is a new folder with a manifest of its files' SHA-256."""
    from jk500db.export.runner import run_export
    from jk500db.services.accounts import authenticate

    chosen = list(ExportFormat) if "all" in formats else [ExportFormat(f) for f in formats]
    moment = _parse_as_of(as_of)
    with _database("jk500db export", reason="data export") as (_engine, session):
        user = authenticate(session, email, password, now=_now(), allow_demo=True)
        session.commit()  # a refusal counts toward lockout, as at the login page
        if user is None:
            raise CliError("--user: the e-mail or password is wrong, or the account may not sign in", EX_DATAERR)
        with click.progressbar(length=len(chosen), label="Exporting", file=sys.stderr) as bar:
            result = run_export(
                session, out, chosen, user=user, identified=identified, as_of=moment, progress=lambda _f: bar.update(1)
            )
        session.commit()
    stand = f"as of {as_of}" if moment else "live data"
    click.echo(
        f"Wrote {len(result.files)} files to {out} ({stand}, audit position {result.manifest['audit']['position']}); "
        f"manifest {out / 'manifest.json'}."
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
