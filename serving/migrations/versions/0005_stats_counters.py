"""The model id column says what it holds; counters that keep the stats off the logs: each
card's Again count and one row per learner and day (reviews, repeats, recalled); an index
on (learner, review time) for today's queue.

Revision ID: 0005
Revises: 0004
"""

from collections import Counter
from datetime import UTC

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

AGAIN = 1  # fsrs.Rating.Again


def upgrade() -> None:
    with op.batch_alter_table("review_logs") as batch:
        batch.alter_column("model_version", new_column_name="model_id")
        batch.create_index("ix_review_logs_learner_time", ["learner_id", "reviewed_at"])
    with op.batch_alter_table("cards") as batch:
        batch.add_column(sa.Column("agains", sa.Integer, nullable=False, server_default="0"))
    op.execute(
        "UPDATE cards SET agains = (SELECT COUNT(*) FROM review_logs "
        f"WHERE review_logs.card_id = cards.id AND review_logs.rating = {AGAIN})"
    )
    days = op.create_table(
        "review_days",
        sa.Column("learner_id", sa.String(32), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("reviews", sa.Integer, nullable=False),
        sa.Column("repeats", sa.Integer, nullable=False),
        sa.Column("recalled", sa.Integer, nullable=False),
    )
    counts: Counter = Counter()
    logs = op.get_bind().execute(
        sa.select(
            sa.column("learner_id"),
            sa.column("reviewed_at", sa.DateTime(timezone=True)),
            sa.column("rating"),
            sa.column("first_review"),
        ).select_from(sa.table("review_logs"))
    )
    for learner_id, reviewed_at, rating, first in logs:
        if reviewed_at.tzinfo is not None:
            reviewed_at = reviewed_at.astimezone(UTC)
        key = (learner_id, reviewed_at.date())
        counts[(*key, "reviews")] += 1
        counts[(*key, "repeats")] += int(not first)
        counts[(*key, "recalled")] += int(not first and rating != AGAIN)
    keys = {(learner, day) for learner, day, _ in counts}
    op.bulk_insert(
        days,
        [
            {
                "learner_id": learner,
                "day": day,
                **{n: counts[(learner, day, n)] for n in ("reviews", "repeats", "recalled")},
            }
            for learner, day in sorted(keys)
        ],
    )


def downgrade() -> None:
    op.drop_table("review_days")
    with op.batch_alter_table("cards") as batch:
        batch.drop_column("agains")
    with op.batch_alter_table("review_logs") as batch:
        batch.drop_index("ix_review_logs_learner_time")
        batch.alter_column("model_id", new_column_name="model_version")
