"""Time and memory of the tidy CSV export against the database's own CSV writer (issue 6: within 3x, flat memory).

For each study size the same form tables are written twice in the same run:

- the baseline, a raw dump by the database itself: the sqlite3 shell's ``-csv`` mode, or PostgreSQL's
  ``COPY ... TO STDOUT WITH CSV``; ids, codes and stored text only, no keys or lookups;
- the tidy export's CSV pass (``jk500db.export.tidy.write_csv_tables``: stable keys, CTCAE terms and staff
  names looked up, typed text, formulas neutralised), in a child process so its peak resident memory
  (``ru_maxrss``) is its own. A child that only imports the package and opens the snapshot gives the memory
  floor.

Each is run ``--repeat`` times (3), alternating, and the medians are compared: one run of either is too short to
stand for itself on a machine doing other work. The ratio export/raw is printed with the peak memory per size;
whether the ratio is within the 3x target and whether memory grows with the study are printed, never asserted.
Studies are built with ``jk500db init --demo`` and ``jk500db demo`` and cached like the page benchmark's
(``benchmarks.bench_pages``: a file on SQLite, a template database on PostgreSQL).

    python -m benchmarks.bench_export [--subjects 200 2000] [--postgres URL] [--cache DIR] [--workbook] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from benchmarks.bench_pages import Study, postgres_study, sqlite_study
from jk500db.export.dictionary import tidy_tables

TARGET_RATIO = 3.0
SQLITE_SHELL = shutil.which("sqlite3") or "/usr/bin/sqlite3"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "jk500db-bench-cache"


def raw_dump(url: str, folder: Path) -> float:
    """Seconds for the database's own CSV writer to dump every form table into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    parsed = make_url(url)
    start = time.perf_counter()
    if parsed.get_backend_name() == "sqlite":
        # One shell for every table (one process start, as COPY uses one connection).
        script = "".join(
            f'.output {folder / (table + ".csv")}\nSELECT * FROM "{table}";\n' for table in tidy_tables()
        )
        subprocess.run(  # noqa: S603 -- the sqlite3 shell on our own file
            [SQLITE_SHELL, "-csv", "-header", str(parsed.database)], input=script, text=True, check=True
        )
        return time.perf_counter() - start
    engine = sa.create_engine(parsed)
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        for table in tidy_tables():
            with (folder / f"{table}.csv").open("wb") as out, cursor.copy(
                f'COPY "{table}" TO STDOUT WITH (FORMAT csv, HEADER)'
            ) as copy:
                for block in copy:
                    out.write(block)
    engine.dispose()
    return time.perf_counter() - start


def _child(url: str, out: str, what: str) -> None:
    """Run in a subprocess: one export pass; print its seconds, peak memory and rows as JSON."""
    from sqlalchemy.orm import Session

    from jk500db.db import create_engine
    from jk500db.export import tidy
    from jk500db.export.context import ExportContext
    from jk500db.export.snapshot import open_snapshot

    engine = create_engine(url)
    with Session(engine) as session:
        context = ExportContext(session, open_snapshot(session), Path(out))
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if what == "csv":
            paths = tidy.write_csv_tables(context, folder)
        elif what == "workbook":
            paths = [tidy.write_workbook(context, folder)]
        else:  # "floor": the package imported and the snapshot opened, nothing written
            paths = []
        seconds = time.perf_counter() - start
    engine.dispose()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before counting rows below
    rows = 0
    for path in paths:
        if path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as handle:
                rows += sum(1 for _ in csv.reader(handle)) - 1
    written = sum(p.stat().st_size for p in paths)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, "rows": rows, "bytes": written}))


def run_child(url: str, out: Path, what: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 -- this module, arguments built here
        [sys.executable, "-m", "benchmarks.bench_export", "--child", url, str(out), what],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"export child failed:\n{done.stdout}{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench(kind: str, size: int, study: Study, workbook: bool, repeat: int) -> dict[str, Any]:
    """Raw dump and export ``repeat`` times each, alternating, so a burst of other work hits both; medians."""
    raw_runs: list[float] = []
    exports: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="jk500db-bench-export-") as tmp:
        floor = run_child(study.url, Path(tmp) / "floor", "floor")
        for run in range(repeat):
            raw_runs.append(raw_dump(study.url, Path(tmp) / f"raw{run}"))
            exports.append(run_child(study.url, Path(tmp) / f"tidy{run}", "csv"))
            shutil.rmtree(Path(tmp) / f"raw{run}")
            shutil.rmtree(Path(tmp) / f"tidy{run}")
        raw_seconds = statistics.median(raw_runs)
        export_seconds = statistics.median(run["seconds"] for run in exports)
        line = {
            "engine": kind,
            "subjects": size,
            "rows": exports[0]["rows"],
            "raw_s": raw_seconds,
            "tidy_s": export_seconds,
            "ratio": export_seconds / raw_seconds,
            "ratios": [run["seconds"] / raw for run, raw in zip(exports, raw_runs, strict=True)],
            "peak_mb": max(run["peak_mb"] for run in exports),
            "floor_mb": floor["peak_mb"],
            "mb_written": exports[0]["bytes"] / 1e6,
        }
        if workbook:
            line["workbook_s"] = run_child(study.url, Path(tmp) / "xlsx", "workbook")["seconds"]
    print(f"  {study.generated}")
    print(f"  ratio of each run: {', '.join(f'{r:.1f}x' for r in line['ratios'])}")
    return line


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _child(*argv[1:4])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", metavar="URL", help="also run on a fresh database on this server")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--workbook", action="store_true", help="also time the XLSX workbook")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating; medians are printed")
    args = parser.parse_args(argv)
    results = []
    for size in args.subjects:
        sites = size // 500 + 1  # as benchmarks.bench_pages, so the two share their cached studies
        studies: list[tuple[str, AbstractContextManager[Study]]] = [
            ("sqlite", sqlite_study(args.cache, size, sites, args.seed))
        ]
        if args.postgres:
            studies.append(("postgresql", postgres_study(args.postgres, size, sites, args.seed, args.cache)))
        for kind, context in studies:
            print(f"{kind}, {size} subjects:")
            with context as study:
                results.append(bench(kind, size, study, args.workbook, args.repeat))
    print()
    print(
        f"{'engine':<11}{'subjects':>9}{'rows':>10}{'raw s':>8}{'tidy s':>8}{'ratio':>7}{'peak MB':>9}{'floor MB':>9}"
    )
    for r in results:
        verdict = "within" if r["ratio"] <= TARGET_RATIO else "OVER"
        print(
            f"{r['engine']:<11}{r['subjects']:>9}{r['rows']:>10}{r['raw_s']:>8.2f}{r['tidy_s']:>8.2f}"
            f"{r['ratio']:>6.1f}x{r['peak_mb']:>9.0f}{r['floor_mb']:>9.0f}  {verdict} the {TARGET_RATIO:.0f}x target"
            + (f"; workbook {r['workbook_s']:.1f} s" if "workbook_s" in r else "")
        )
    for kind in sorted({r["engine"] for r in results}):
        sizes = sorted((r for r in results if r["engine"] == kind), key=lambda r: r["subjects"])
        if len(sizes) > 1:
            growth = (sizes[-1]["peak_mb"] - sizes[-1]["floor_mb"]) - (sizes[0]["peak_mb"] - sizes[0]["floor_mb"])
            print(
                f"{kind}: peak memory above the floor grew by {growth:.0f} MB from {sizes[0]['subjects']} to "
                f"{sizes[-1]['subjects']} subjects ({sizes[-1]['rows'] / max(1, sizes[0]['rows']):.0f}x the rows)"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
