"""Run every benchmark: ``python -m benchmarks [name ...]`` (``make bench``).

Each ``benchmarks/bench_*.py`` module has a ``main(argv) -> None`` that prints its figures. Benchmarks measure
against a baseline taken in the same run (a ratio), because absolute times vary from machine to machine.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import benchmarks


def main(argv: list[str]) -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    for name in wanted:
        print(f"== {name}")
        importlib.import_module(f"benchmarks.{name}").main([])


if __name__ == "__main__":
    main(sys.argv[1:])
