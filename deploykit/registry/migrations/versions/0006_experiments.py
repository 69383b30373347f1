"""Experiments: shadows and canaries of a candidate version beside production.

Revision ID: 0006_experiments
Revises: 0005
Create Date: 2026-12-02

The table is described in deploykit/registry/tables.py (``experiments``); the logic
that reads and writes it in deploykit/registry/experiments.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_experiments"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in deploykit/registry/tables.py as of this revision.
JSON = sa.JSON(none_as_null=True)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("running_model", sa.String(128), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("production_version", sa.Integer, nullable=False),
        sa.Column("candidate_version", sa.Integer, nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("sticky", sa.String(256), nullable=True),
        sa.Column("policy", JSON, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("started_by", sa.String(256), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("ended_at", TIME, nullable=True),
        sa.Column("ended_by", sa.String(256), nullable=True),
        sa.Column("end_reason", sa.Text, nullable=True),
        sa.Column("statistics", JSON, nullable=True),
        sa.Column("next_check_at", sa.Float, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("running_model", name="uq_experiments_running_model"),
    )
    op.create_index("ix_experiments_model", "experiments", ["model"])


def downgrade() -> None:
    op.drop_index("ix_experiments_model", table_name="experiments")
    op.drop_table("experiments")
