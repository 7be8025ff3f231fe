"""Users, roles and the sites each user may see.

Accounts are deactivated, never deleted, and e-mail addresses are never reassigned (Part 11 §11.100(a)).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jk500db.models.base import Base
from jk500db.models.types import Vocabulary, check
from jk500db.models.vocabularies import RoleCode

if TYPE_CHECKING:
    from jk500db.models.study import Site


class Role(Base):
    __tablename__ = "role"

    #: role code (data_manager, monitor, investigator, statistician, admin).
    code: Mapped[RoleCode] = mapped_column(Vocabulary(RoleCode), primary_key=True)
    #: name shown to users.
    name: Mapped[str] = mapped_column(sa.String(60))
    #: what the role does and never does (DESIGN.md).
    description: Mapped[str] = mapped_column(sa.Text)

    users: Mapped[list[User]] = relationship(back_populates="role")


user_site = sa.Table(
    "user_site",
    Base.metadata,
    sa.Column("user_id", sa.ForeignKey("user_account.id"), primary_key=True),
    sa.Column("site_id", sa.ForeignKey("site.id"), primary_key=True),
)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: login name; unique and never reassigned.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    #: printed name, copied into every audit row and signature the user makes.
    full_name: Mapped[str] = mapped_column(sa.String(120))
    #: the user's role.
    role_code: Mapped[RoleCode] = mapped_column(Vocabulary(RoleCode), sa.ForeignKey("role.code"))
    #: argon2 hash of the password; never the password itself.
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    #: false once the account is disabled (accounts are never deleted).
    active: Mapped[bool] = mapped_column(default=True)
    #: a one-time password was set: the user must choose a new one at first login.
    must_change_password: Mapped[bool] = mapped_column(default=True)
    #: when the password was last changed (UTC).
    password_changed_at: Mapped[dt.datetime | None]
    #: consecutive failed logins since the last success.
    failed_logins: Mapped[int] = mapped_column(default=0)
    #: the account refuses logins until this moment (UTC).
    locked_until: Mapped[dt.datetime | None]
    #: changed on logout, disabling or role change: every session carrying an older value ends.
    session_epoch: Mapped[int] = mapped_column(default=0)
    #: when the account was created (UTC).
    created_at: Mapped[dt.datetime]
    #: when the account was disabled (UTC).
    deactivated_at: Mapped[dt.datetime | None]
    #: demo accounts exist only in demo databases and are refused elsewhere.
    demo: Mapped[bool] = mapped_column(default=False)

    role: Mapped[Role] = relationship(back_populates="users")
    sites: Mapped[list[Site]] = relationship(secondary=user_site)

    __table_args__ = (
        check("failed_logins >= 0", "failed_logins_range", field="failed_logins", rule="must not be negative"),
        check("email LIKE '%_@_%'", "email_format", field="email", rule="must be an e-mail address"),
        check(
            "active OR deactivated_at IS NOT NULL",
            "deactivated_at_required",
            field="deactivated_at",
            rule="a disabled account records when it was disabled",
        ),
    )

    def __repr__(self) -> str:
        return f"<User {self.email} ({self.role_code})>"
