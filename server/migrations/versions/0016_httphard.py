"""dead letters: a capped prefix of the payload with its SHA-256, size and a count of repeats

Revision ID: 0016_httphard
Revises: 0010_learning
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0016_httphard"
down_revision = "0015_wall"
branch_labels = None
depends_on = None

PREFIX = 2048  # server/store/deadletters.py PREFIX_BYTES
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("sha256", sa.String(64), nullable=True))
        batch.add_column(sa.Column("size", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("count", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("last_seen", TS, nullable=True))
    conn = op.get_bind()
    dl = sa.table(
        "dead_letters",
        sa.column("id", sa.Integer),
        sa.column("received", TS),
        sa.column("payload", sa.LargeBinary),
        sa.column("sha256", sa.String),
        sa.column("size", sa.Integer),
        sa.column("count", sa.Integer),
        sa.column("last_seen", TS),
    )
    # Existing letters: hash and cut each, one row per distinct payload (oldest kept, counted).
    first: dict[str, tuple[int, int]] = {}
    ids = [r.id for r in conn.execute(sa.select(dl.c.id).order_by(dl.c.id))]
    for i in ids:
        r = conn.execute(sa.select(dl).where(dl.c.id == i)).one()
        sha = hashlib.sha256(r.payload).hexdigest()
        if sha in first:
            keep, n = first[sha]
            first[sha] = (keep, n + 1)
            conn.execute(
                dl.update().where(dl.c.id == keep).values(count=n + 1, last_seen=r.received)
            )
            conn.execute(dl.delete().where(dl.c.id == i))
            continue
        first[sha] = (i, 1)
        conn.execute(
            dl.update()
            .where(dl.c.id == i)
            .values(
                sha256=sha,
                size=len(r.payload),
                payload=r.payload[:PREFIX],
                last_seen=r.received,
            )
        )
    with op.batch_alter_table("dead_letters") as batch:
        batch.alter_column("sha256", existing_type=sa.String(64), nullable=False)
        batch.alter_column("size", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("last_seen", existing_type=TS, nullable=False)
        batch.create_index("ux_dead_letters_sha256", ["sha256"], unique=True)
        batch.create_index("ix_dead_letters_last_seen", ["last_seen"])


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_index("ix_dead_letters_last_seen")
        batch.drop_index("ux_dead_letters_sha256")
        batch.drop_column("last_seen")
        batch.drop_column("count")
        batch.drop_column("size")
        batch.drop_column("sha256")
