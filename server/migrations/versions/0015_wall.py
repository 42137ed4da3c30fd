"""wall: since when each gate camera has been in the state it reports (the /gates page)

Revision ID: 0015_wall
Revises: 0010_learning
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_wall"
down_revision = "0014_flows"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gates") as batch:
        batch.add_column(sa.Column("state_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("gates") as batch:
        batch.drop_column("state_since")
