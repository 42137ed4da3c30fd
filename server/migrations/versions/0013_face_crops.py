"""face crops of watchlist passages, pushed by the edges (issue 18)

Revision ID: 0013_face_crops
Revises: 0010_learning
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_face_crops"
down_revision = "0012_notify"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "passage_faces",
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("stored", TS, nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_passage_faces_stored", "passage_faces", ["stored"])


def downgrade() -> None:
    op.drop_index("ix_passage_faces_stored", table_name="passage_faces")
    op.drop_table("passage_faces")
