"""Audited writes against plain writes, and `audit verify` throughput.

1. Bulk writes: the same lab-result rows are inserted in one statement (and then each edited once) into two
   fresh databases of the same schema: one with the audit triggers, one with every trigger dropped. The ratio
   audited / plain is the raw cost of the audit trail per row, the worst case: one row written costs one
   chained audit row per filled field. Run on SQLite and, when a server is given, PostgreSQL.
2. Form saves: the application's write path. Each lab result is saved as a data manager's form save is, in
   its own ORM session and committed transaction, then edited once with a reason through
   ``services.records.update_record``; the same into the schema without triggers. The audited database also
   runs the derivation pass (grades, edit checks) on every save, which needs the audit trail: the plain one
   cannot, so the ratio is the cost of audit and derivations together.
3. Verify: a study generated like `jk500db demo --subjects N` is verified; events per second are printed.

    python -m benchmarks.bench_audit [--rows 2000] [--subjects 1000] [--postgres URL]

Targets (issue 3): audited writes within 2x of unaudited; verify at least 50,000 events/s on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from jk500db import migrate
from jk500db.audit.context import set_change_context, set_reason, system_context
from jk500db.audit.triggers import installed_trigger_names
from jk500db.audit.verify import verify
from jk500db.db import create_engine
from jk500db.demo.generator import generate_study
from jk500db.models import LabResult, Site, Study, Subject
from jk500db.models.vocabularies import ChangeSource, Sex
from jk500db.services.records import update_record
from jk500db.services.study_definition import SEED_DATA_DIR, load_study_definition
from jk500db.services.terminology import load_ctcae_terms

CONTEXT = system_context("benchmark", reason="benchmark edit", source=ChangeSource.SYSTEM)


@contextmanager
def fresh_database(kind: str, folder: Path, server: str | None) -> Iterator[sa.Engine]:
    if kind == "sqlite":
        engine = create_engine(f"sqlite:///{folder / f'{uuid.uuid4().hex}.sqlite3'}")
        yield engine
        engine.dispose()
        return
    assert server is not None
    name = f"jk500db_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = create_engine(make_url(server).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def drop_triggers(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for name in installed_trigger_names(conn) | _guard_names(conn):
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            else:
                table = conn.exec_driver_sql(
                    f"SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = '{name}'"
                ).scalar()
                conn.exec_driver_sql(f'DROP TRIGGER {name} ON "{table}"')


def _guard_names(conn: sa.Connection) -> set[str]:
    if conn.dialect.name == "sqlite":
        rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
    else:
        rows = conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
    return {n for (n,) in rows if n.startswith("jk500_")}


def subject_id(engine: sa.Engine) -> int:
    with Session(engine) as session:
        set_change_context(session, CONTEXT)
        study = Study(code="BENCH", title="b", sponsor="s", phase="p", planned_enrolment=1)
        session.add(study)
        session.flush()
        site = Site(study_id=study.id, code="01", name="b", country="CHN")
        session.add(site)
        session.flush()
        subject = Subject(
            site_id=site.id,
            subject_number="01-001",
            screening_number="S1",
            sex=Sex.FEMALE,
            birth_date=dt.date(2015, 1, 1),
        )
        session.add(subject)
        session.commit()
        return subject.id


def timed_writes(engine: sa.Engine, rows: int) -> tuple[float, float]:
    """Seconds to insert ``rows`` lab results in one transaction, then to edit each once."""
    sid = subject_id(engine)
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    values = [
        {
            "subject_id": sid,
            "test_code": "NEUT",
            "specimen": "blood",
            "collected_at": base + dt.timedelta(hours=i),
            "value_text": "1.2",
            "value": Decimal("1.2"),
            "unit": "10^9/L",
            "lln": Decimal("1.5"),
            "uln": Decimal("8"),
            "transfusion_indicated": False,
            "symptomatic": False,
            "intervention_indicated": False,
            "oral_replacement_indicated": False,
            "hospitalization_indicated": False,
            "life_threatening": False,
            "version": 1,
        }
        for i in range(rows)
    ]
    with engine.connect() as conn:
        start = time.perf_counter()
        with conn.begin():
            set_change_context(conn, CONTEXT)
            conn.execute(sa.insert(LabResult.__table__), values)
        inserted = time.perf_counter() - start
        ids = [i for (i,) in conn.execute(sa.select(LabResult.id).order_by(LabResult.id))]
        conn.rollback()
        start = time.perf_counter()
        with conn.begin():
            set_change_context(conn, CONTEXT)
            set_reason(conn, "benchmark edit")
            conn.execute(
                sa.update(LabResult.__table__)
                .where(LabResult.id == sa.bindparam("b_id"))
                .values(value=sa.bindparam("b_v")),
                [{"b_id": i, "b_v": Decimal("1.3")} for i in ids],
            )
        edited = time.perf_counter() - start
    return inserted, edited


def timed_form_saves(engine: sa.Engine, forms: int) -> tuple[float, float]:
    """Seconds to save ``forms`` lab results one committed transaction each, then to edit each once. They go to
    a second subject (after ``timed_writes``), so each save recomputes a casebook of a realistic size."""
    with Session(engine) as session:
        set_change_context(session, CONTEXT)
        first = session.scalars(sa.select(Subject)).one()
        other = Subject(site_id=first.site_id, subject_number="01-002", screening_number="S2", sex=Sex.MALE,
                        birth_date=dt.date(2014, 5, 1))  # fmt: skip
        session.add(other)
        session.commit()
        sid = other.id
    base = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    ids = []
    start = time.perf_counter()
    for i in range(forms):
        with Session(engine, expire_on_commit=False) as session:
            set_change_context(session, CONTEXT)
            result = LabResult(
                subject_id=sid,
                test_code="NEUT",
                specimen="blood",
                collected_at=base + dt.timedelta(hours=i),
                value_text="1.2",
                value=Decimal("1.2"),
                unit="10^9/L",
                lln=Decimal("1.5"),
                uln=Decimal("8"),
            )
            session.add(result)
            session.commit()
            ids.append(result.id)
    inserted = time.perf_counter() - start
    start = time.perf_counter()
    for record_id in ids:
        with Session(engine) as session:
            set_change_context(session, CONTEXT)
            record = session.get_one(LabResult, record_id)
            update_record(session, record, {"value": Decimal("1.3")}, seen_version=record.version, reason="typo")
            session.commit()
    edited = time.perf_counter() - start
    return inserted, edited


def _print_ratio(kind: str, what: str, plain: float, audited: float) -> None:
    print(
        f"{kind:<10} {what:<28} plain {plain * 1000:8.1f} ms, audited {audited * 1000:8.1f} ms,"
        f" ratio {audited / plain:5.2f}x"
    )


def bench_writes(kind: str, rows: int, folder: Path, server: str | None) -> None:
    with fresh_database(kind, folder, server) as audited, fresh_database(kind, folder, server) as plain:
        migrate.upgrade(audited)
        migrate.upgrade(plain)
        drop_triggers(plain)
        plain_insert, plain_edit = timed_writes(plain, rows)
        audited_insert, audited_edit = timed_writes(audited, rows)
        forms = max(1, rows // 10)
        plain_saves, plain_edits = timed_form_saves(plain, forms)
        audited_saves, audited_edits = timed_form_saves(audited, forms)
    _print_ratio(kind, f"bulk insert {rows} rows", plain_insert, audited_insert)
    _print_ratio(kind, f"bulk edit {rows} rows", plain_edit, audited_edit)
    _print_ratio(kind, f"form save x{forms}", plain_saves, audited_saves)
    _print_ratio(kind, f"form edit x{forms}", plain_edits, audited_edits)


def bench_verify(subjects: int, folder: Path) -> None:
    with fresh_database("sqlite", folder, None) as engine:
        migrate.upgrade(engine)
        start = time.perf_counter()
        with Session(engine) as session:
            set_change_context(session, CONTEXT)
            load_study_definition(session)
            load_ctcae_terms(session, SEED_DATA_DIR / "ctcae_v5.0_terms.csv")
            summary = generate_study(session, subjects=subjects, sites=max(1, subjects // 500 + 1), seed=1)
            session.commit()
        generated = time.perf_counter() - start
        with engine.connect() as conn:
            start = time.perf_counter()
            report = verify(conn)
            seconds = time.perf_counter() - start
            chain_only = time.perf_counter()
            verify(conn, check_live_data=False)
            chain_seconds = time.perf_counter() - chain_only
    print(f"generated {summary} in {generated:.1f} s (audited)")
    print(
        f"verify: {report.events} events in {seconds:.2f} s = {report.events / seconds:,.0f} events/s "
        f"(chain alone {report.events / chain_seconds:,.0f} events/s); intact={report.intact}"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--subjects", type=int, default=int(os.environ.get("JK500DB_BENCH_SUBJECTS", "1000")))
    parser.add_argument("--postgres", default=os.environ.get("JK500DB_TEST_POSTGRES_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench_writes("sqlite", args.rows, folder, None)
        if args.postgres:
            bench_writes("postgresql", args.rows, folder, args.postgres)
        else:
            print("postgresql: skipped (give --postgres URL or set JK500DB_TEST_POSTGRES_URL)")
        bench_verify(args.subjects, folder)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
