"""scores.verified and scores.ticks (replay verification, issue 11)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Additive: rows stored before keep working (verified = false, ticks NULL) and are shown.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: SQLite adds a column with a constant default without
    # copying the table, and a batch copy would drop the DESC of ix_scores_rank.
    op.add_column("scores", sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("scores", sa.Column("ticks", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("scores", "ticks")  # SQLite >= 3.35 drops columns natively
    op.drop_column("scores", "verified")
