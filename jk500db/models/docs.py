"""The ``#:`` comment above each column, read back as the column's description.

Every column of the models carries a ``#:`` comment (the indico habit). Reading them here makes that one text
the help shown beside a form field and the label of a data-dictionary entry, so the two never drift apart from
the model. Comments are read from the module's source lines, so nothing is evaluated.
"""

from __future__ import annotations

import inspect
import re
import sys
from functools import cache

_CLASS = re.compile(r"class\s+(\w+)")
_DEF = re.compile(r"(?:async\s+)?def\s+(\w+)")
_NAME = re.compile(r"[A-Za-z_]\w*")


@cache
def _module_comments(module_name: str) -> dict[str, dict[str, str]]:
    """{qualified class name: {attribute: text}} for every class of a module, from one scan of its lines.

    The ``#:`` comment block directly above a line that starts with a name documents that name; above ``return``
    in a mixin's function (``def subject_id(cls): #: ... return ...``) it documents the function. Any other
    comment or code line ends a block; blank lines do not. A class holds what its nested classes document, and
    ends at the first code line indented no deeper than its ``class`` line.

    Lines, not tokens: the tokenizer (pure Python) and a syntax tree to find the classes took most of a data
    dictionary's time. The models' classes hold no multi-line string that starts a line with ``#:`` or less
    indented than the class, which is all this reading assumes (``tests/test_model_docs.py`` checks every column).
    """
    try:
        source = inspect.getsource(sys.modules[module_name])
    except (KeyError, OSError, TypeError):  # built at runtime: no source to read
        return {}
    comments: dict[str, dict[str, str]] = {}
    classes: list[tuple[str, int]] = []  # the classes a line is in: (qualified name, indent of the class line)
    pending: list[str] = []
    function = ""
    for line in source.splitlines():
        code = line.lstrip()
        if not code:
            continue
        if code.startswith("#"):
            pending = [*pending, code[2:].strip()] if code.startswith("#:") else []
            continue
        indent = len(line) - len(code)
        while classes and indent <= classes[-1][1]:
            classes.pop()
        if defined := _DEF.match(code):
            function = defined.group(1)
        name = _NAME.match(code)
        if name and pending:
            documented = function if name.group() == "return" else name.group()
            for qualified, _ in classes:
                comments[qualified].setdefault(documented, " ".join(pending))
        pending = []
        if opened := _CLASS.match(code):
            qualified = f"{classes[-1][0]}.{opened.group(1)}" if classes else opened.group(1)
            comments[qualified] = {}
            classes.append((qualified, indent))
    return comments


def _class_comments(cls: type) -> dict[str, str]:
    """{attribute: text} for the ``#:`` comments of ``cls`` (see ``_module_comments``)."""
    return _module_comments(cls.__module__).get(cls.__qualname__, {})


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
