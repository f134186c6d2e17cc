"""Overrides: a learner's claim that a rejected stroke was right ("I was right").

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("learner_id", sa.String(32), nullable=False, index=True),
        sa.Column("kanji", sa.String(1), nullable=False, index=True),
        sa.Column("strokes", sa.Text, nullable=False),
        sa.Column("canvas_width", sa.Float, nullable=False),
        sa.Column("canvas_height", sa.Float, nullable=False),
        sa.Column("strictness", sa.String(16), nullable=False),
        sa.Column("verdicts", sa.Text, nullable=False),
        sa.Column("order", sa.Text, nullable=False),
        sa.Column("p_correct", sa.Float, nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("claim", sa.String(16), nullable=False),
        sa.Column("attempt_id", sa.String(64), nullable=True),
        sa.Column("log_index", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("overrides")
