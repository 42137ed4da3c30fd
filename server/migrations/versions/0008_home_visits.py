"""home_visits: visits to care-flag residents (who, when, note, outcome)

Revision ID: 0008_home_visits
Revises: 0007_presence
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_home_visits"
down_revision = "0007_presence"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "home_visits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("visited_at", TS, nullable=False),
        sa.Column("visitor", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_home_visits_person_visited", "home_visits", ["person_id", "visited_at"], unique=False
    )
    op.create_index("ix_home_visits_visited", "home_visits", ["visited_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_home_visits_visited", table_name="home_visits")
    op.drop_index("ix_home_visits_person_visited", table_name="home_visits")
    op.drop_table("home_visits")
