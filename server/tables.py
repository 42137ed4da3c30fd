"""The schema (SQLAlchemy Core). Changes go through an Alembic revision in server/migrations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
TS = DateTime(timezone=True)

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

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(32), nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("episode", String(64), nullable=False),
    Column("state", String(16), nullable=False, default="open"),
    Column("evidence", JSON, nullable=False),
    Column("created", TS, nullable=False),
    Column("updated", TS, nullable=False),
    Column("updated_by", String(64)),
    Column("count", Integer, nullable=False, server_default="1"),  # occurrences merged into it
    Column("last_ts", TS, nullable=False),  # when the latest occurrence was raised
    UniqueConstraint("rule", "person_id", "episode", name="uq_alert_episode"),
)

# Each occurrence of a merged alert (alerts.repeat_window_min): a re-delivery counts once.
alert_repeats = Table(
    "alert_repeats",
    metadata,
    Column("alert_id", Integer, ForeignKey("alerts.id"), primary_key=True),
    Column("episode", String(64), primary_key=True),
    Column("ts", TS, nullable=False),
    Column("evidence", JSON, nullable=False),
)

# Who acknowledged or closed an alert, when, with what note (the alert keeps only the last).
alert_history = Table(
    "alert_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", Integer, ForeignKey("alerts.id"), nullable=False),
    Column("ts", TS, nullable=False),
    Column("user", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("note", Text),
    Index("ix_alert_history_alert", "alert_id"),
)

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

# Pushes to group robots and webhooks (server/notify/): one row per alert and channel, delivered
# in id order per channel; "pending" until "delivered" or "failed" (a reason in last_error).
notify_outbox = Table(
    "notify_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(64), nullable=False),
    Column("alert_id", Integer),  # None: a test message
    Column("event", String(32), nullable=False),  # raised, resolved, repeat-<n>, test
    Column("delivery_id", String(32), nullable=False, unique=True),
    Column("message", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", TS, nullable=False),
    Column("claimed_until", TS),
    Column("created", TS, nullable=False),
    Column("done", TS),
    Column("last_error", Text),
    UniqueConstraint("channel", "alert_id", "event", name="uq_notify_alert_event"),
    Index("ix_notify_outbox_channel_state", "channel", "state", "id"),
    Index("ix_notify_outbox_created", "created"),
)

notify_attempts = Table(
    "notify_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "outbox_id", Integer, ForeignKey("notify_outbox.id", ondelete="CASCADE"), nullable=False
    ),
    Column("channel", String(64), nullable=False),
    Column("ts", TS, nullable=False),
    Column("status_code", Integer),
    Column("errcode", Integer),
    Column("outcome", String(16), nullable=False),  # delivered, retry, rate_limited, failed
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Index("ix_notify_attempts_channel_ts", "channel", "ts"),
    Index("ix_notify_attempts_outbox", "outbox_id"),
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
