"""What every repository shares: the engine and the dialect's INSERT."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, Table
from sqlalchemy.dialects import postgresql, sqlite


def now_utc() -> datetime:
    return datetime.now(UTC)


class Repository:
    """Thin typed functions over SQLAlchemy Core; each call is its own transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def _insert(self, table: Table) -> sqlite.Insert | postgresql.Insert:
        """The dialect's INSERT, which knows ON CONFLICT, for SQLite and PostgreSQL alike."""
        return (postgresql if self.dialect == "postgresql" else sqlite).insert(table)

    def _insert_ignore(self, table: Table, *keys: str) -> sqlite.Insert | postgresql.Insert:
        """INSERT ... ON CONFLICT (keys) DO NOTHING."""
        return self._insert(table).on_conflict_do_nothing(index_elements=list(keys))
