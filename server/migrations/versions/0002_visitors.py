"""visitors: pseudonymous visitor ids seen by the edges, with retention

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitors",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("passages", sa.Integer(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visitors_last_seen", "visitors", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_visitors_last_seen", table_name="visitors")
    op.drop_table("visitors")
