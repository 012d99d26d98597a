"""The dialect's INSERT ... ON CONFLICT, chosen in one place for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, Integer, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def dialect_insert(session: Session, table: Any) -> Any:
    """`insert(table)` with `.on_conflict_do_update` / `.on_conflict_do_nothing` for this database."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"upserts are written for SQLite and PostgreSQL, not {name}")


def in_ids(session: Session, column: Any, ids: Sequence[int]) -> Any:
    """`column IN ids`; on PostgreSQL `= ANY(:array)`: one parameter instead of hundreds to parse."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("ids", list(ids), type_=ARRAY(Integer)))
    return column.in_(ids)
