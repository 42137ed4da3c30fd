"""visitor_alias and visitor_matches; the visitors table loses its template column

The server never stores a visitor template (the edges share them among themselves): the
column meant for one goes. Two visitor ids of one visitor are merged through visitor_alias;
visitor_matches keeps which live visitors a template search matched (look back).

Revision ID: 0005_visitor_alias
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_visitor_alias"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visitors") as batch:
        batch.drop_column("template")
    op.create_table(
        "visitor_alias",
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alias"),
    )
    op.create_index("ix_visitor_alias_visitor", "visitor_alias", ["visitor_id"], unique=False)
    op.create_table(
        "visitor_matches",
        sa.Column("search_id", sa.String(length=64), nullable=False),
        sa.Column("visitor_id", sa.String(length=64), nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"]),
        sa.PrimaryKeyConstraint("search_id", "visitor_id", "gate"),
    )


def downgrade() -> None:
    op.drop_table("visitor_matches")
    op.drop_index("ix_visitor_alias_visitor", table_name="visitor_alias")
    op.drop_table("visitor_alias")
    with op.batch_alter_table("visitors") as batch:
        batch.add_column(sa.Column("template", sa.LargeBinary(), nullable=True))
