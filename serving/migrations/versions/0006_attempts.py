"""The attempt in progress at each card (the first try of the day decides the rating);
overrides become bounded claims about a stroke of it (plausible, with the grader's match);
each review keeps the reasons of its rating; per-learner exam mode and reveal-after settings.

Claims stored before this revision were not checked against a review: they are kept but
marked not plausible, so they are never exported for training.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("card_id", sa.Integer, sa.ForeignKey("cards.id"), nullable=False, unique=True),
        sa.Column("learner_id", sa.String(32), nullable=False, index=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", sa.Text, nullable=False),
    )
    with op.batch_alter_table("overrides") as batch:
        batch.add_column(sa.Column("plausible", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("expected_index", sa.Integer, nullable=True))
        batch.add_column(sa.Column("matched_index", sa.Integer, nullable=True))
    with op.batch_alter_table("review_logs") as batch:
        batch.add_column(sa.Column("reasons", sa.Text, nullable=True))
    with op.batch_alter_table("learners") as batch:
        batch.add_column(sa.Column("exam", sa.String(8), nullable=True))
        batch.add_column(sa.Column("reveal_after", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learners") as batch:
        batch.drop_column("reveal_after")
        batch.drop_column("exam")
    with op.batch_alter_table("review_logs") as batch:
        batch.drop_column("reasons")
    with op.batch_alter_table("overrides") as batch:
        batch.drop_column("matched_index")
        batch.drop_column("expected_index")
        batch.drop_column("plausible")
    op.drop_table("attempts")
