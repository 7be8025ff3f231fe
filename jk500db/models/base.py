"""Declarative base, naming convention and the mixins every clinical record shares."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from jk500db.models.types import ExactDecimal, UTCDateTime
from jk500db.models.vocabularies import FormCode

#: One convention for every constraint, so migrations and error messages can name them.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: ExactDecimal(),
        dt.datetime: UTCDateTime(),
        str: sa.String(),
    }


class ClinicalRecord:
    """A case-report-form record: versioned for optimistic concurrency, never physically deleted.

    ``__form__`` names the CRF the record belongs to, so SDV marks, locks and form status can find it.
    """

    __form__: ClassVar[FormCode]

    #: surrogate key; never shown to users.
    id: Mapped[int] = mapped_column(primary_key=True, sort_order=-10)
    #: incremented on every update; a save carrying an older version is refused (optimistic locking).
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    #: set instead of deleting the row; the audit trail keeps the values.
    removed_at: Mapped[dt.datetime | None]
    #: why the record was removed (required with removed_at).
    removed_reason: Mapped[str | None] = mapped_column(sa.Text)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class SubjectRecord(ClinicalRecord):
    """A clinical record that belongs to one subject (the audit trail files it under that subject)."""

    @declared_attr
    def subject_id(cls) -> Mapped[int]:
        #: the subject this record belongs to.
        return mapped_column(sa.ForeignKey("subject.id"), index=True, sort_order=-9)


#: ``Column.info`` key marking a derived column.
DERIVED = "derived"


def derived(*args: Any, **kwargs: Any) -> Any:
    """A column computed by ``jk500db.derivations`` from stored inputs; staff never type it.

    Changes to derived columns alone do not clear SDV marks (SDV checks entered data against the source) and
    do not themselves start another recomputation.
    """
    return mapped_column(*args, info={DERIVED: True}, **kwargs)


def derived_columns(table: sa.Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if c.info.get(DERIVED))


def removal_check() -> sa.CheckConstraint:
    """A removed record says why."""
    from jk500db.models.types import check

    return check(
        "removed_at IS NULL OR removed_reason IS NOT NULL",
        "removed_reason_required",
        field="removed_reason",
        rule="a removed record needs a reason for removal",
    )
