"""The edit-check registry: what a check is, and how checks are declared."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jk500db.derivations.subject_data import StudyContext, SubjectData
from jk500db.models.vocabularies import QueryOrigin


class Severity(StrEnum):
    HARD = "hard"  # refuses the write
    SOFT = "soft"  # saves and opens a query


@dataclass(frozen=True)
class CheckContext:
    """What a check may read: the subject's records, the study definition, and the time of the write."""

    data: SubjectData
    study: StudyContext
    now: dt.datetime


#: A check's test returns None when the record passes, else a sentence naming the values that break the rule.
Test = Callable[[Any, CheckContext], str | None]


@dataclass(frozen=True)
class EditCheck:
    id: str
    model: type[Any]
    field: str
    severity: Severity
    rule: str
    test: Test
    #: a soft check's query origin: an edit check, or a derived value differing from the investigator's.
    origin: QueryOrigin = QueryOrigin.EDIT_CHECK


REGISTRY: list[EditCheck] = []


def edit_check(
    check_id: str,
    targets: list[tuple[type[Any], str]],
    severity: Severity,
    rule: str,
    origin: QueryOrigin = QueryOrigin.EDIT_CHECK,
) -> Callable[[Test], Test]:
    """Register ``test`` under ``check_id`` for each (model, field) it watches."""

    def register(test: Test) -> Test:
        for model, field in targets:
            REGISTRY.append(EditCheck(check_id, model, field, severity, rule, test, origin))
        return test

    return register


def checks_for(model: type[Any]) -> list[EditCheck]:
    return [c for c in REGISTRY if c.model is model]
