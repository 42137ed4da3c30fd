"""Persons, their templates and reference photos, home visits, watchlist passage crops."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
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

persons = Table(
    "persons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("birth_date", Date),
    Column("building", String(32)),
    Column("unit", String(32)),
    Column("room", String(32)),  # 0014_flows: "701" of 3号楼 2单元 701室 (None for older rows)
    Column("phone", String(40)),
    Column("company", String(100)),
    Column("care_flags", JSON, nullable=False, default=list),
    Column("valid_until", Date),
    Column("legal_basis", String(40), nullable=False, default="consent"),
    Column("removed", Boolean, nullable=False, default=False),
    Column("created", TS, nullable=False),
    Column("updated", TS, nullable=False),
)

templates = Table(
    "templates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("embedding", LargeBinary, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("quality", Float),
    Column("created", TS, nullable=False),
    # Where the template came from: "enrollment" (the desk; never replaced by learning),
    # "gate_confirmed" (a review item an officer confirmed) or "gate_auto" (learned under guard).
    Column("source", String(16), nullable=False, default="enrollment"),
    Column("gate", String(64)),
    Column("camera", String(64)),
    Column("captured_at", TS),  # when the gate saw the face (gate templates)
    Column("confirmed_by", String(64)),  # the officer who confirmed it (gate_confirmed)
    Column("capture_id", String(32)),  # the capture it came from (gate templates)
    Index("ix_templates_person", "person_id"),
)

# One reference photo per person: the enrollment face crop, shown to officers only (audited),
# deleted with the person.
reference_photos = Table(
    "reference_photos",
    metadata,
    Column("person_id", String(64), ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True),
    Column("jpeg", LargeBinary, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("created_by", String(64)),
)

# Home visits to care-flag residents (kept as long as the resident's passages: retention).
home_visits = Table(
    "home_visits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("visited_at", TS, nullable=False),
    Column("visitor", String(100), nullable=False),
    Column("note", Text),
    Column("outcome", String(16), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("created", TS, nullable=False),
    Index("ix_home_visits_person_visited", "person_id", "visited_at"),
    Index("ix_home_visits_visited", "visited_at"),
)

# Face crops of watchlist passages, pushed by the edge with the passage (issue 18): the evidence
# an officer confirms a watchlist hit by eye with, kept faces.watchlist_days. Every other
# passage's crop stays on its gate machine and is asked for on demand (never stored here).
passage_faces = Table(
    "passage_faces",
    metadata,
    Column("event_id", String(32), primary_key=True),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("ts", TS, nullable=False),
    Column("jpeg", LargeBinary, nullable=False),
    Column("stored", TS, nullable=False),
    Index("ix_passage_faces_stored", "stored"),
)
