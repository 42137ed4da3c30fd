"""What the gates send: their status, passages, presence and counts, dead letters."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from server.tables.base import TS, metadata

gates = Table(
    "gates",
    metadata,
    Column("gate", String(64), primary_key=True),
    Column("camera", String(64), primary_key=True),
    Column("name", String(100)),
    Column("state", String(16)),
    Column("camera_state", String(16)),
    Column("status", JSON),
    Column("last_status", TS),
    Column("clock_skew_s", Float),  # the edge's status ts minus the server's receive time
    Column("state_since", TS),  # server time the reported state (and camera state) began
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(32), nullable=False, unique=True),
    Column("seq", BigInteger, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("direction", String(4), nullable=False),
    Column("ts", TS, nullable=False),
    Column("track_id", BigInteger, nullable=False),
    Column("identity", String(64)),
    Column("identity_kind", String(8), nullable=False),
    Column("role", String(16), nullable=False),
    Column("role_source", String(16), nullable=False),
    Column("score", Float),
    Column("margin", Float),
    Column("quality", Float, nullable=False),
    Column("frames_used", Integer, nullable=False),
    Column("gallery_version", BigInteger, nullable=False),
    Column("model_id", String(200), nullable=False),
    Column("search_id", String(64)),
    Column("received", TS, nullable=False),
    Index("ix_events_identity_ts", "identity", "ts"),
    Index("ix_events_ts", "ts"),
)

# Where each identity is now, kept at ingest (moves forward in time only): the wall's "inside
# now" and "seen in 24 h" without reading the events. direction "none" (an internal camera)
# means inside. last_in / last_out are the newest passage in / out, whenever it arrived.
presence = Table(
    "presence",
    metadata,
    Column("identity", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("role", String(16), nullable=False),
    Column("direction", String(4), nullable=False),
    Column("ts", TS, nullable=False),
    Column("gate", String(64), nullable=False),
    Column("camera", String(64), nullable=False),
    Column("last_in", TS),
    Column("last_out", TS),
    Index("ix_presence_ts", "ts"),
)

# The newest passage of each gate camera, kept at ingest (apart from the cameras' status, so
# that neither can stop the other being stored).
camera_passages = Table(
    "camera_passages",
    metadata,
    Column("gate", String(64), primary_key=True),
    Column("camera", String(64), primary_key=True),
    Column("last_passage", TS, nullable=False),
)

# Passages per UTC hour, role and direction, counted at ingest: the wall's hourly chart and
# today's passages without scanning the day's events.
hourly_counts = Table(
    "hourly_counts",
    metadata,
    Column("hour", TS, primary_key=True),
    Column("role", String(16), primary_key=True),
    Column("direction", String(4), primary_key=True),
    Column("n", Integer, nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received", TS, nullable=False),
    Column("kind", String(16), nullable=False),  # passage | status
    Column("topic", String(300), nullable=False),
    Column("error", Text, nullable=False),
    # The first PREFIX_BYTES (2 KB) of the message as it arrived, with the SHA-256 and size of
    # the whole: the same bytes again count up ``count`` and move ``last_seen``.
    Column("payload", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("count", Integer, nullable=False, server_default="1"),
    Column("last_seen", TS, nullable=False),
    Index("ix_dead_letters_received", "received"),
    Index("ux_dead_letters_sha256", "sha256", unique=True),
    Index("ix_dead_letters_last_seen", "last_seen"),
)
