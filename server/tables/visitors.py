"""Visitors by id: their records, aliases and look-back matches."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from server.tables.base import TS, metadata

visitors = Table(
    "visitors",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("first_seen", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("passages", Integer, nullable=False),
    Index("ix_visitors_last_seen", "last_seen"),
)

# Visitor templates are never stored here: the edges share them among themselves. What the
# server keeps is which visitor ids are one visitor (two edges minted an id at nearly the same
# time; the older id won) and which visitors a template search matched (look back).
visitor_alias = Table(
    "visitor_alias",
    metadata,
    Column("alias", String(64), primary_key=True),
    Column("visitor_id", String(64), nullable=False),
    Column("gate", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Index("ix_visitor_alias_visitor", "visitor_id"),
)

visitor_matches = Table(
    "visitor_matches",
    metadata,
    Column("search_id", String(64), ForeignKey("searches.id"), primary_key=True),
    Column("visitor_id", String(64), primary_key=True),
    Column("gate", String(64), primary_key=True),
    Column("score", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("ts", TS, nullable=False),
)
