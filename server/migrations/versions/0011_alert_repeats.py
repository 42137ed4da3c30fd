"""alerts that merge their repeats: a count and the latest time on the alert, each occurrence
of a merged alert in alert_repeats

Revision ID: 0011_alert_repeats
Revises: 0010_learning
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_alert_repeats"
down_revision = "0010_learning"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_ts", TS, nullable=True))
    op.execute("UPDATE alerts SET last_ts = created")
    with op.batch_alter_table("alerts") as batch:
        batch.alter_column("last_ts", existing_type=TS, nullable=False)
    op.create_table(
        "alert_repeats",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("episode", sa.String(64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"]),
        sa.PrimaryKeyConstraint("alert_id", "episode"),
    )


def downgrade() -> None:
    op.drop_table("alert_repeats")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("last_ts")
        batch.drop_column("count")
