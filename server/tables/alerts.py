"""Alerts, their repeats and history, and their pushes (notify outbox and attempts)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from server.tables.base import TS, metadata

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
