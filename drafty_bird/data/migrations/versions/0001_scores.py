"""scores and score_counts

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("player", sa.String(24), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("writer_id", sa.String(64), nullable=True),
        sa.UniqueConstraint("run_id", name="uq_scores_run_id"),
    )
    # Serves ORDER BY score DESC, created_at ASC LIMIT n without sorting the table.
    op.create_index("ix_scores_rank", "scores", [sa.text("score DESC"), "created_at"])
    op.create_table(
        "score_counts",
        sa.Column("score", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("score_counts")
    op.drop_index("ix_scores_rank", table_name="scores")
    op.drop_table("scores")
