"""Audit log, gallery snapshots, API users and sessions."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from server.tables.base import TS, metadata

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", TS, nullable=False),
    Column("user", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200)),
    Column("reason", Text),
    Column("detail", JSON),
    Index("ix_audit_ts", "ts"),
)

galleries = Table(
    "galleries",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("model_id", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("path", String(500), nullable=False),
    Column("persons", Integer, nullable=False),
    Column("templates", Integer, nullable=False),
    Column("created", TS, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created", TS, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("expires", TS),  # None: never (rotate by hand)
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("user", String(64), ForeignKey("users.name", ondelete="CASCADE"), nullable=False),
    Column("created", TS, nullable=False),
    Column("expires", TS, nullable=False),
    Index("ix_sessions_expires", "expires"),
)
