"""notify: the outbox of pushes to group robots and webhooks, and every delivery attempt

Revision ID: 0012_notify
Revises: 0010_learning
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_notify"
down_revision = "0011_alert_repeats"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("delivery_id", sa.String(32), nullable=False),
        sa.Column("message", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", TS, nullable=False),
        sa.Column("claimed_until", TS, nullable=True),
        sa.Column("created", TS, nullable=False),
        sa.Column("done", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
        sa.UniqueConstraint("channel", "alert_id", "event", name="uq_notify_alert_event"),
    )
    op.create_index(
        "ix_notify_outbox_channel_state", "notify_outbox", ["channel", "state", "id"]
    )
    op.create_index("ix_notify_outbox_created", "notify_outbox", ["created"])
    op.create_table(
        "notify_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["notify_outbox.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_notify_attempts_channel_ts", "notify_attempts", ["channel", "ts"])
    op.create_index("ix_notify_attempts_outbox", "notify_attempts", ["outbox_id"])


def downgrade() -> None:
    op.drop_index("ix_notify_attempts_outbox", table_name="notify_attempts")
    op.drop_index("ix_notify_attempts_channel_ts", table_name="notify_attempts")
    op.drop_table("notify_attempts")
    op.drop_index("ix_notify_outbox_created", table_name="notify_outbox")
    op.drop_index("ix_notify_outbox_channel_state", table_name="notify_outbox")
    op.drop_table("notify_outbox")
