"""Searches for a missing person, sightings, candidates and their evidence."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from server.tables.base import TS, metadata

searches = Table(
    "searches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("person_id", String(64)),
    Column("template", LargeBinary),
    Column("model_id", String(200)),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("raised_by", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Column("closed", TS),
    Column("closed_by", String(64)),
    Column("close_note", Text),
)

sightings = Table(
    "sightings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("search_id", String(64), ForeignKey("searches.id"), nullable=False),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("ts", TS, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("identity", String(64)),
    Column("score", Float),
    Index("ix_sightings_search", "search_id"),
)

candidates = Table(
    "candidates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("candidate_id", String(32), nullable=False, unique=True),
    Column("search_id", String(64), ForeignKey("searches.id"), nullable=False),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("ts", TS, nullable=False),
    Column("track_id", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("frames_at_threshold", Integer, nullable=False),
    Column("frames_considered", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("event_id", String(32)),
    Column("model_id", String(200), nullable=False),
    Column("verdict", String(16)),
    Column("verdict_by", String(64)),
    Column("verdict_at", TS),
    Column("received", TS, nullable=False),
    Index("ix_candidates_search", "search_id"),
)

# Kept apart from the candidate so that its own (short) retention deletes only the pictures.
candidate_evidence = Table(
    "candidate_evidence",
    metadata,
    Column(
        "candidate_id",
        String(32),
        ForeignKey("candidates.candidate_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("aligned_jpeg", LargeBinary, nullable=False),
    Column("context_jpeg", LargeBinary, nullable=False),
    Column("stored", TS, nullable=False),
    Index("ix_candidate_evidence_stored", "stored"),
)
