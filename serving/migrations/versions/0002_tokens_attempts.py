"""Learner tokens stored as hashes, idempotent reviews.

* ``learners.token_hash``: SHA-256 of the learner's bearer token (the token itself is never
  stored). Until now the learner id was the token: each existing learner keeps its token
  (its hash is stored) and gets a new random id, rewritten in its cards and logs.
* ``review_logs.attempt_id`` (unique per learner; a replayed attempt stores nothing) and
  ``review_logs.complete``, so a replay can answer as the first time.

Revision ID: 0002
Revises: 0001
"""

import hashlib
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("learners") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
    with op.batch_alter_table("review_logs") as batch:
        batch.add_column(sa.Column("attempt_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("complete", sa.Integer, nullable=True))
        batch.create_unique_constraint("uq_review_attempt", ["learner_id", "attempt_id"])
    connection = op.get_bind()
    learners = connection.execute(sa.text("SELECT id, created_at FROM learners")).all()
    for old, created in learners:
        new = secrets.token_hex(16)
        digest = hashlib.sha256(old.encode()).hexdigest()
        connection.execute(
            sa.text("INSERT INTO learners (id, created_at, token_hash) VALUES (:i, :c, :h)"),
            {"i": new, "c": created, "h": digest},
        )
        for table in ("cards", "review_logs"):
            connection.execute(
                sa.text(f"UPDATE {table} SET learner_id = :new WHERE learner_id = :old"),
                {"new": new, "old": old},
            )
        connection.execute(sa.text("DELETE FROM learners WHERE id = :old"), {"old": old})
    with op.batch_alter_table("learners") as batch:
        batch.alter_column("token_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_learner_token", ["token_hash"])


def downgrade() -> None:
    raise NotImplementedError("tokens are stored as hashes: there is no way back")
