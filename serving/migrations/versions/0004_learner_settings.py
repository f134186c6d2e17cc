"""Per-learner settings: new cards a day, strictness.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("learners") as batch:
        batch.add_column(sa.Column("daily_new", sa.Integer, nullable=True))
        batch.add_column(sa.Column("strictness", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("learners") as batch:
        batch.drop_column("strictness")
        batch.drop_column("daily_new")
