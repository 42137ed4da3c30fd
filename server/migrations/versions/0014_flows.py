"""flows: a person's room (building / unit / room as separate fields; older rows have none)

Revision ID: 0014_flows
Revises: 0010_learning
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_flows"
down_revision = "0013_face_crops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.add_column(sa.Column("room", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("persons") as batch:
        batch.drop_column("room")
