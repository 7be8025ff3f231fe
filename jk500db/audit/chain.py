"""The hash chain: each audit row stores SHA-256(previous hash, its own content).

The content is canonicalised as length-prefixed fields joined by "|" (NULL written "~"), so no two different
rows share a canonical text. The same function is registered in SQLite (``jk500_chain``), written in PL/pgSQL
for PostgreSQL, and used by the verifier; a test checks the three agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

#: Audit columns in hash order (``prev_hash`` comes first in the canonical text).
HASHED_COLUMNS: tuple[str, ...] = (
    "occurred_at",
    "transaction_id",
    "actor_id",
    "actor_name",
    "source",
    "table_name",
    "row_key",
    "subject_id",
    "field_name",
    "action",
    "old_value",
    "new_value",
    "reason",
)

GENESIS = ""  # prev_hash of the first row


def canonical(values: Sequence[object | None]) -> str:
    return "|".join("~" if v is None else f"{len(str(v))}:{v}" for v in values)


def chain_hash(prev_hash: str | None, values: Sequence[object | None]) -> str:
    """SHA-256 hex of the canonical text of ``[prev_hash, *values]``."""
    return hashlib.sha256(canonical([prev_hash or GENESIS, *values]).encode("utf-8")).hexdigest()


def sqlite_chain(*args: object | None) -> str:
    """The SQLite function ``jk500_chain(prev_hash, occurred_at, ..., reason)``."""
    return chain_hash(None if args[0] is None else str(args[0]), [None if a is None else str(a) for a in args[1:]])


POSTGRES_CHAIN_FUNCTION = r"""
CREATE OR REPLACE FUNCTION jk500_chain(VARIADIC parts text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(
        string_agg(CASE WHEN p IS NULL THEN '~' ELSE length(p)::text || ':' || p END, '|' ORDER BY i),
        'UTF8')), 'hex')
    FROM unnest(parts) WITH ORDINALITY AS t(p, i)
$$;
"""
