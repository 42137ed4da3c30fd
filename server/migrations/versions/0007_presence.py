"""presence: where each identity is now, passages per hour and each camera's newest passage, kept
at ingest for the wall

Revision ID: 0007_presence
Revises: 0006_sightings
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_presence"
down_revision = "0006_sightings"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Each identity's newest passage (ties: the last stored), with its newest in and out.
BACKFILL_PRESENCE = """
INSERT INTO presence (identity, kind, role, direction, ts, gate, camera, last_in, last_out)
SELECT identity, identity_kind, role, direction, ts, gate, camera, last_in, last_out FROM (
  SELECT identity, identity_kind, role, direction, ts, gate, camera,
    ROW_NUMBER() OVER (PARTITION BY identity ORDER BY ts DESC, id DESC) AS rn,
    MAX(CASE WHEN direction = 'in' THEN ts END) OVER (PARTITION BY identity) AS last_in,
    MAX(CASE WHEN direction = 'out' THEN ts END) OVER (PARTITION BY identity) AS last_out
  FROM events WHERE identity IS NOT NULL
) latest WHERE rn = 1
"""
# The hour as each database stores a UTC timestamp (SQLite: text without zone).
HOUR = {
    "sqlite": "substr(ts, 1, 13) || ':00:00.000000'",
    "postgresql": "date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}
BACKFILL_HOURS = """
INSERT INTO hourly_counts (hour, role, direction, n)
SELECT {hour} AS h, role, direction, COUNT(*) FROM events GROUP BY h, role, direction
"""


def upgrade() -> None:
    op.create_table(
        "camera_passages",
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("last_passage", TS, nullable=False),
        sa.PrimaryKeyConstraint("gate", "camera"),
    )
    op.create_table(
        "presence",
        sa.Column("identity", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("last_in", TS, nullable=True),
        sa.Column("last_out", TS, nullable=True),
        sa.PrimaryKeyConstraint("identity"),
    )
    op.create_index("ix_presence_ts", "presence", ["ts"], unique=False)
    op.create_table(
        "hourly_counts",
        sa.Column("hour", TS, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "role", "direction"),
    )
    bind = op.get_bind()
    bind.exec_driver_sql(BACKFILL_PRESENCE)
    bind.exec_driver_sql(BACKFILL_HOURS.format(hour=HOUR[bind.dialect.name]))
    bind.exec_driver_sql(
        "INSERT INTO camera_passages (gate, camera, last_passage)"
        " SELECT gate, camera, MAX(ts) FROM events GROUP BY gate, camera"
    )


def downgrade() -> None:
    op.drop_table("hourly_counts")
    op.drop_index("ix_presence_ts", table_name="presence")
    op.drop_table("presence")
    op.drop_table("camera_passages")
