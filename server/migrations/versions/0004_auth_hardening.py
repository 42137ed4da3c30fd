"""auth hardening: token expiry on users, browser sessions (cookie) by digest

Revision ID: 0004_auth_hardening
Revises: 0003_ingest_hardening
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_auth_hardening"
down_revision = "0003_ingest_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("expires", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "sessions",
        sa.Column("id_sha256", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user"], ["users.name"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id_sha256"),
    )
    op.create_index("ix_sessions_expires", "sessions", ["expires"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sessions_expires", table_name="sessions")
    op.drop_table("sessions")
    with op.batch_alter_table("users") as b:
        b.drop_column("expires")
