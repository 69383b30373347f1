"""Telemetry retention: an index on the bucket start of both telemetry tables.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

Old buckets are folded into one all-time row per model and version (bucket 0) and
deleted (deploykit/server/telemetry.py, ``compact``); the index keeps finding them,
and every time-range query, from scanning the whole table.
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_index("ix_telemetry_counts_bucket", "telemetry_counts", ["bucket"])
    op.create_index("ix_telemetry_latency_bucket", "telemetry_latency", ["bucket"])


def downgrade() -> None:
    op.drop_index("ix_telemetry_latency_bucket", table_name="telemetry_latency")
    op.drop_index("ix_telemetry_counts_bucket", table_name="telemetry_counts")
