"""sightings: search candidates from the edges, their evidence pictures and officers' verdicts

Revision ID: 0006_sightings
Revises: 0004_auth_hardening
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_sightings"
down_revision = "0004_auth_hardening"  # was 0002; rechained after visitors, ingest and http landed
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.String(length=32), nullable=False),
        sa.Column("search_id", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("camera", sa.String(length=64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("frames_at_threshold", sa.Integer(), nullable=False),
        sa.Column("frames_considered", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("model_id", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("verdict_by", sa.String(length=64), nullable=True),
        sa.Column("verdict_at", TS, nullable=True),
        sa.Column("received", TS, nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("candidate_id"),
    )
    op.create_index("ix_candidates_search", "candidates", ["search_id"], unique=False)
    op.create_table(
        "candidate_evidence",
        sa.Column("candidate_id", sa.String(length=32), nullable=False),
        sa.Column("aligned_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("context_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("stored", TS, nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.candidate_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("candidate_id"),
    )
    op.create_index("ix_candidate_evidence_stored", "candidate_evidence", ["stored"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_candidate_evidence_stored", table_name="candidate_evidence")
    op.drop_table("candidate_evidence")
    op.drop_index("ix_candidates_search", table_name="candidates")
    op.drop_table("candidates")
