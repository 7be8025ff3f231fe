"""Queries (discrepancy notes) on a record or one field, and their messages."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base
from jk500db.models.types import Vocabulary, requires_check
from jk500db.models.vocabularies import QueryOrigin, QueryStatus

if TYPE_CHECKING:
    from jk500db.models.users import User


class Query(Base):
    __tablename__ = "query"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: subject the queried record belongs to.
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subject.id"), index=True)
    #: table of the queried record.
    table_name: Mapped[str] = mapped_column(sa.String(60))
    #: key of the queried record.
    record_id: Mapped[int]
    #: the field queried; None for the whole record.
    field_name: Mapped[str | None] = mapped_column(sa.String(60))
    #: open, answered or closed.
    status: Mapped[QueryStatus] = mapped_column(Vocabulary(QueryStatus), default=QueryStatus.OPEN)
    #: raised by a person, an edit check, or a derived/entered mismatch.
    origin: Mapped[QueryOrigin] = mapped_column(Vocabulary(QueryOrigin))
    #: the edit check that raised it.
    rule_id: Mapped[str | None] = mapped_column(sa.String(60))
    #: who opened it; None when the system did.
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when opened (UTC).
    opened_at: Mapped[dt.datetime]
    #: who answered last.
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when answered (UTC).
    answered_at: Mapped[dt.datetime | None]
    #: who closed it.
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when closed (UTC).
    closed_at: Mapped[dt.datetime | None]

    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    messages: Mapped[list[QueryMessage]] = relationship(back_populates="query", order_by="QueryMessage.id")

    __table_args__ = (
        requires_check("opened_by_id", "origin = 'manual'", "a manual query names who opened it"),
        requires_check("rule_id", "origin = 'edit_check'", "an automatic query names its edit check"),
        requires_check("closed_at", "status = 'closed'", "a closed query records when it was closed"),
        sa.Index("ix_query_record", "table_name", "record_id"),
    )


class QueryMessage(Base):
    __tablename__ = "query_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the query.
    query_id: Mapped[int] = mapped_column(sa.ForeignKey("query.id"))
    #: author; None for system messages.
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id"))
    #: when written (UTC).
    written_at: Mapped[dt.datetime]
    #: the message.
    text: Mapped[str] = mapped_column(sa.Text)
    #: the query's status after this message.
    status_after: Mapped[QueryStatus] = mapped_column(Vocabulary(QueryStatus))

    query: Mapped[Query] = relationship(back_populates="messages")
