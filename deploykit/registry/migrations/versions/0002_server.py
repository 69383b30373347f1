"""Server tables: access tokens, telemetry buckets, feedback labels.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

The tables are described in deploykit/server/tables.py (the server owns them;
they live in the registry database so that every replica shares them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import (
    ACTOR,
    JSON,
    NAME,
    TIME,
    bucket_key,
    stamp,
    surrogate_key,
)

revision: str = "0002"
down_revision: str | None = "0001"


def upgrade() -> None:
    op.create_table(
        "tokens",
        *surrogate_key("tokens"),
        sa.Column("name", ACTOR, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        *stamp("created"),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_table(
        "telemetry_counts",
        *bucket_key(),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("requests", sa.BigInteger, nullable=False),
        sa.Column("errors_4xx", sa.BigInteger, nullable=False),
        sa.Column("errors_5xx", sa.BigInteger, nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("latency_sum_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("model", "version", "bucket", name="pk_telemetry_counts"),
    )
    op.create_table(
        "telemetry_latency",
        *bucket_key(),
        sa.Column("le_index", sa.Integer, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "model", "version", "bucket", "le_index", name="pk_telemetry_latency"
        ),
    )
    op.create_table(
        "feedback",
        *surrogate_key("feedback"),
        sa.Column("model", NAME, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("label", JSON, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", ACTOR, nullable=False),
    )
    op.create_index("ix_feedback_model_request_id", "feedback", ["model", "request_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("telemetry_latency")
    op.drop_table("telemetry_counts")
    op.drop_table("tokens")
