"""alert notes: the history of who acknowledged or closed an alert (with a note), and a search's
closing note

Revision ID: 0009_alert_notes
Revises: 0008_home_visits
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_alert_notes"
down_revision = "0008_home_visits"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alert_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_history_alert", "alert_history", ["alert_id"])
    with op.batch_alter_table("searches") as batch:
        batch.add_column(sa.Column("close_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("searches") as batch:
        batch.drop_column("close_note")
    op.drop_index("ix_alert_history_alert", table_name="alert_history")
    op.drop_table("alert_history")
