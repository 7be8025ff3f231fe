"""The ``#:`` comment above each column, read back as the column's description.

Every column of the models carries a ``#:`` comment (the indico habit). Reading them here makes that one text
the help shown beside a form field and the label of a data-dictionary entry, so the two never drift apart from
the model. Comments are read with ``tokenize`` from the class's source, so nothing is evaluated.
"""

from __future__ import annotations

import ast
import inspect
import io
import sys
import textwrap
import tokenize
from functools import cache


@cache
def _module_classes(module_name: str) -> dict[str, str]:
    """{qualified class name: its source} for every class of a module, from one parse of the module.

    ``inspect.getsource(cls)`` parses the whole module again for every class it is asked about, which made a
    data dictionary take seconds; one parse per module is enough.
    """
    try:
        source = inspect.getsource(sys.modules[module_name])
    except (KeyError, OSError, TypeError):  # built at runtime: no source to read
        return {}
    lines = source.splitlines(keepends=True)
    classes: dict[str, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                name = f"{prefix}{child.name}"
                body = "".join(lines[child.lineno - 1 : child.end_lineno])
                classes[name] = textwrap.dedent(body)
                visit(child, f"{name}.")

    visit(ast.parse(source), "")
    return classes


@cache
def _class_comments(cls: type) -> dict[str, str]:
    """{attribute: text} for the ``#:`` comment block directly above each ``name: ...`` line of ``cls``."""
    source = _module_classes(cls.__module__).get(cls.__qualname__)
    if source is None:
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []
    line_start = True
    previous = ""
    function = ""  # a mixin declares a column in a function: ``def subject_id(cls): #: ... return ...``
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string
            pending = [*pending, text[2:].strip()] if text.startswith("#:") else []
            continue
        if token.type in (tokenize.NL, tokenize.NEWLINE):
            line_start = True
            continue
        if token.type in (tokenize.INDENT, tokenize.DEDENT):
            continue
        if token.type == tokenize.NAME and previous == "def":
            function = token.string
        if line_start and token.type == tokenize.NAME and pending:
            name = function if token.string == "return" else token.string
            comments.setdefault(name, " ".join(pending))
        if line_start:
            pending = []
        line_start = False
        previous = token.string
    return comments


@cache
def column_docs(cls: type) -> dict[str, str]:
    """{column attribute: description} for a mapped class, including what its mixins declare."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        docs.update(_class_comments(klass))
    return docs


def column_doc(cls: type, name: str) -> str:
    """The description of one column, or "" when it has none."""
    return column_docs(cls).get(name, "")


#: Units read from the column name's ending (the models name every measured column with its unit).
UNITS: tuple[tuple[str, str], ...] = (
    ("_cells_per_kg", "cells/kg"),  # before "_kg": a dose per kilogram is not a weight
    ("_l_min", "L/min"),
    ("_pct", "%"),
    ("_kg", "kg"),
    ("_cm", "cm"),
    ("_ml", "mL"),
    ("_m2", "m²"),
    ("_c", "°C"),
)


def unit_of(name: str) -> str | None:
    """The unit a column's name ends in (``weight_kg`` -> kg), or None."""
    return next((unit for ending, unit in UNITS if name.endswith(ending)), None)
