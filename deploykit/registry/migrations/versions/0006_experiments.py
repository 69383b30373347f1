"""Experiments: shadows and canaries of a candidate version beside production.

Revision ID: 0006_experiments
Revises: 0005
Create Date: 2026-12-02

The table is described in deploykit/registry/tables.py (``experiments``); the logic
that reads and writes it in deploykit/registry/experiments.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import JSON, NAME, TIME, stamp, surrogate_key

revision: str = "0006_experiments"
down_revision: str | None = "0005"


def upgrade() -> None:
    op.create_table(
        "experiments",
        *surrogate_key("experiments"),
        sa.Column("model", NAME, nullable=False),
        sa.Column("running_model", NAME, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("alias", NAME, nullable=False),
        sa.Column("production_version", sa.Integer, nullable=False),
        sa.Column("candidate_version", sa.Integer, nullable=False),
        sa.Column("percent", sa.Float, nullable=False),
        sa.Column("sticky", sa.String(256), nullable=True),
        sa.Column("policy", JSON, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        *stamp("started"),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        *stamp("ended", nullable=True),
        sa.Column("end_reason", sa.Text, nullable=True),
        sa.Column("statistics", JSON, nullable=True),
        sa.Column("next_check_at", sa.Float, nullable=True),
        sa.UniqueConstraint("running_model", name="uq_experiments_running_model"),
    )
    op.create_index("ix_experiments_model", "experiments", ["model"])


def downgrade() -> None:
    op.drop_index("ix_experiments_model", table_name="experiments")
    op.drop_table("experiments")
