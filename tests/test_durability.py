"""kill -9 in the middle of a write transaction leaves a database whose integrity and audit chain both pass."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from jk500db.audit.verify import verify
from jk500db.cli import main
from jk500db.db import create_engine
from tests.conftest import ENGINES

#: The child commits one lab result, then starts a second transaction that writes rows until it is killed.
CHILD = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from decimal import Decimal
    from sqlalchemy.orm import Session
    from jk500db.audit.context import set_change_context, system_context
    from jk500db.db import create_engine
    from jk500db.models import LabResult, Subject
    from tests import factories

    engine = create_engine(sys.argv[1])
    with Session(engine) as session:
        set_change_context(session, system_context("durability child"))
        subject = factories.subject(session, subject_number="01-777", screening_number="S777")
        factories.lab_result(session, subject_id=subject.id)
        session.commit()
        set_change_context(session, system_context("durability child"))
        for n in range(100000):
            factories.lab_result(session, subject_id=subject.id, value_text=str(n), value=Decimal(n))
            if n == 50:
                print("writing", flush=True)
    """
)


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_BK01_kill_9_during_a_write_leaves_an_intact_database_and_chain(fresh_database: str, tmp_path: Path) -> None:
    url = fresh_database
    env = {"JK500DB_DATABASE_URL": url, "JK500DB_INSTANCE_DIR": str(tmp_path)}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "writing"
        time.sleep(0.2)  # well inside the uncommitted transaction
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        if child.stdout is not None:
            child.stdout.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            # the committed lab result survived; nothing of the killed transaction did
            assert conn.execute(sa.text("SELECT count(*) FROM lab_result")).scalar() == 1
            report = verify(conn)
        assert report.intact, report.damage[:3]
        assert report.events > 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("fresh_database", ENGINES, indirect=True)
def test_AT06_concurrent_writers_leave_one_unbroken_chain_in_commit_order(fresh_database: str, tmp_path: Path) -> None:
    """Threads commit audited writes at the same time; the chain stays linear (PostgreSQL's advisory lock)."""
    import threading
    from decimal import Decimal

    from sqlalchemy.orm import Session

    from jk500db.audit.context import set_change_context, system_context
    from tests import factories

    url = fresh_database
    env = {"JK500DB_DATABASE_URL": url, "JK500DB_INSTANCE_DIR": str(tmp_path)}
    assert CliRunner().invoke(main, ["init"], env=env).exit_code == 0
    engine = create_engine(url, pool_size=8)
    with Session(engine) as session:
        set_change_context(session, system_context("setup"))
        subject_id = factories.subject(session, subject_number="01-321", screening_number="S321").id
        session.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with Session(engine) as session:
                    set_change_context(session, system_context(f"writer {n}"))
                    factories.lab_result(
                        session, subject_id=subject_id, value=Decimal(f"{n}.{i}"), value_text=f"{n}.{i}"
                    )
                    session.commit()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors[0]
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM lab_result")).scalar() == 40
            report = verify(conn)
        assert report.intact, report.damage[:3]
    finally:
        engine.dispose()
