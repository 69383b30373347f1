"""Server tables: access tokens, telemetry buckets, feedback labels.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

The tables are described in deploykit/server/tables.py (the server owns them;
they live in the registry database so that every replica shares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in deploykit/server/tables.py as of this revision.
JSON = sa.JSON(none_as_null=True)
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("created_by", sa.String(256), nullable=False),
        sa.Column("revoked_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_tokens_token_hash"),
    )
    op.create_table(
        "telemetry_counts",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
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
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("le_index", sa.Integer, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(
            "model", "version", "bucket", "le_index", name="pk_telemetry_latency"
        ),
    )
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("label", JSON, nullable=True),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
    )
    op.create_index("ix_feedback_model_request_id", "feedback", ["model", "request_id"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("telemetry_latency")
    op.drop_table("telemetry_counts")
    op.drop_table("tokens")
