"""Monitoring tables: alert rules and per-model drift options.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

The tables are described in deploykit/monitoring/tables.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import JSON, NAME, stamp, surrogate_key

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        *surrogate_key("alert_rules"),
        sa.Column("model", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("window_seconds", sa.Integer, nullable=False),
        sa.Column("min_count", sa.Integer, nullable=False),
        sa.Column("rollback", sa.Boolean, nullable=False),
        sa.Column("webhook", sa.String(2048), nullable=True),
        sa.Column("cooldown_seconds", sa.Integer, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        *stamp("created"),
        sa.Column("next_check_at", sa.Float, nullable=True),
        sa.Column("last_fired_at", sa.Float, nullable=True),
        sa.UniqueConstraint("model", "name", name="uq_alert_rules_model_name"),
    )
    op.create_table(
        "drift_settings",
        sa.Column("model", NAME, nullable=False),
        sa.Column("options", JSON, nullable=False),
        *stamp("updated"),
        sa.PrimaryKeyConstraint("model", name="pk_drift_settings"),
    )


def downgrade() -> None:
    op.drop_table("drift_settings")
    op.drop_table("alert_rules")
