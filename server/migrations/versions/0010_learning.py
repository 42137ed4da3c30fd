"""the gallery that learns at the gate: template provenance, reference photos, gate captures,
review items and rejections

Revision ID: 0010_learning
Revises: 0009_alert_notes
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_learning"
down_revision = "0009_alert_notes"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("templates") as batch:
        batch.add_column(
            sa.Column("source", sa.String(16), nullable=False, server_default="enrollment")
        )
        batch.add_column(sa.Column("gate", sa.String(64), nullable=True))
        batch.add_column(sa.Column("camera", sa.String(64), nullable=True))
        batch.add_column(sa.Column("captured_at", TS, nullable=True))
        batch.add_column(sa.Column("confirmed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("capture_id", sa.String(32), nullable=True))
    op.create_table(
        "reference_photos",
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "captures",
        sa.Column("capture_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("camera", sa.String(64), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("identity", sa.String(64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("review_floor", sa.Float(), nullable=False),
        sa.Column("gallery_version", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("received", TS, nullable=False),
        sa.PrimaryKeyConstraint("capture_id"),
    )
    op.create_index("ix_captures_person", "captures", ["person_id"])
    op.create_index("ix_captures_identity", "captures", ["identity"])
    op.create_index("ix_captures_received", "captures", ["received"])
    op.create_table(
        "capture_faces",
        sa.Column("capture_id", sa.String(32), nullable=False),
        sa.Column("aligned_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("context_jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("stored", TS, nullable=False),
        sa.ForeignKeyConstraint(["capture_id"], ["captures.capture_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("capture_id"),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("capture_id", sa.String(32), nullable=False),
        sa.Column("visitor_id", sa.String(64), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["capture_id"], ["captures.capture_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_items_state", "review_items", ["state", "created"])
    op.create_index("ix_review_items_person", "review_items", ["person_id"])
    op.create_table(
        "review_rejections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("visitor_id", sa.String(64), nullable=True),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created", TS, nullable=False),
        sa.Column("rejected_by", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["persons.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_rejections_person", "review_rejections", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_review_rejections_person", table_name="review_rejections")
    op.drop_table("review_rejections")
    op.drop_index("ix_review_items_person", table_name="review_items")
    op.drop_index("ix_review_items_state", table_name="review_items")
    op.drop_table("review_items")
    op.drop_table("capture_faces")
    op.drop_index("ix_captures_received", table_name="captures")
    op.drop_index("ix_captures_identity", table_name="captures")
    op.drop_index("ix_captures_person", table_name="captures")
    op.drop_table("captures")
    op.drop_table("reference_photos")
    with op.batch_alter_table("templates") as batch:
        for col in ("capture_id", "confirmed_by", "captured_at", "camera", "gate", "source"):
            batch.drop_column(col)
