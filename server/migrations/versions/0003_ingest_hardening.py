"""ingest hardening: 64-bit passage counters, gate clock skew, dead letters

Revision ID: 0003_ingest_hardening
Revises: 0005_visitor_alias (rechained at the merge of main; was 0002)
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ingest_hardening"
down_revision = "0005_visitor_alias"
branch_labels = None
depends_on = None

COUNTERS = ("seq", "track_id", "gallery_version")


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        for col in COUNTERS:
            batch.alter_column(col, existing_type=sa.Integer(), type_=sa.BigInteger(),
                               existing_nullable=False)  # fmt: skip
    with op.batch_alter_table("gates") as batch:
        batch.add_column(sa.Column("clock_skew_s", sa.Float(), nullable=True))
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("received", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dead_letters_received", "dead_letters", ["received"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_received", table_name="dead_letters")
    op.drop_table("dead_letters")
    with op.batch_alter_table("gates") as batch:
        batch.drop_column("clock_skew_s")
    with op.batch_alter_table("events") as batch:
        for col in COUNTERS:
            batch.alter_column(col, existing_type=sa.BigInteger(), type_=sa.Integer(),
                               existing_nullable=False)  # fmt: skip
