"""The gallery that learns: gate captures, their faces, review items and rejections."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from server.tables.base import TS, metadata

# A gate's capture for the gallery that learns (contract.events.GateCapture): the passage's best
# person, its scores and fused template. Kept for review items and the returning-visitor rule;
# purged after learning.capture_days unless a review item still needs it.
captures = Table(
    "captures",
    metadata,
    Column("capture_id", String(32), primary_key=True),
    Column("event_id", String(32), nullable=False),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("ts", TS, nullable=False),
    Column("purpose", String(8), nullable=False),  # review | learn
    Column("person_id", String(64), nullable=False),
    Column("identity", String(64)),  # what the passage said: visitor id, the person, or none
    Column("score", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("frames", Integer, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("review_floor", Float, nullable=False),
    Column("gallery_version", BigInteger, nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("template", LargeBinary, nullable=False),
    Column("dim", Integer, nullable=False),
    # learned (a template was added), anchor_failed, capped_today, kept (for review), duplicate
    Column("outcome", String(16)),
    Column("received", TS, nullable=False),
    Index("ix_captures_person", "person_id"),
    Index("ix_captures_identity", "identity"),
    Index("ix_captures_received", "received"),
)

# The capture's face pictures, apart so that their own retention deletes only the pictures.
capture_faces = Table(
    "capture_faces",
    metadata,
    Column(
        "capture_id",
        String(32),
        ForeignKey("captures.capture_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("aligned_jpeg", LargeBinary, nullable=False),
    Column("context_jpeg", LargeBinary, nullable=False),
    Column("stored", TS, nullable=False),
)

# Review items on the officer's workbench: "是否为 <name>？" for a near miss (a passage just below
# the naming threshold) or a returning visitor (a visitor id seen on several recent days).
review_items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(24), nullable=False),  # near_miss | returning_visitor
    Column("person_id", String(64), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("capture_id", String(32), ForeignKey("captures.capture_id"), nullable=False),
    Column("visitor_id", String(64)),
    Column("score", Float, nullable=False),
    Column("state", String(16), nullable=False),  # open | confirmed | rejected | expired
    Column("created", TS, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", TS),
    Column("template_id", Integer),  # the template a confirmation added
    Index("ix_review_items_state", "state", "created"),
    Index("ix_review_items_person", "person_id"),
)

# "Not this person": the pair is never asked again (the visitor id, and any later capture whose
# template matches the rejected one at the site's same-visitor threshold).
review_rejections = Table(
    "review_rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("person_id", String(64), ForeignKey("persons.id", ondelete="CASCADE"), nullable=False),
    Column("visitor_id", String(64)),
    Column("template", LargeBinary, nullable=False),
    Column("dim", Integer, nullable=False),
    Column("created", TS, nullable=False),
    Column("rejected_by", String(64), nullable=False),
    Index("ix_review_rejections_person", "person_id"),
)
