"""Monitoring's tables in the registry database: alert rules and per-model drift options.

Migration ``0003`` (``deploykit/registry/migrations/versions/0003_monitoring.py``)
creates them; this module is what the code queries. They live in the registry's
database so that every server replica sees the same rules, and so that replicas
can take turns: ``next_check_at`` is a lease (a replica evaluates a rule only if it
moved the lease forward itself) and ``last_fired_at`` a claim (only the replica that
moved it acts on a breach). Both are epoch seconds, compared as plain numbers on
every backend.

``feedback`` holds the true labels posted to a server for a request id (migrations
``0002`` and ``0005``): monitoring owns it, the server's feedback route writes it and
accuracy reads it. ``actor`` is who sent them (the token's name, or ``anonymous``);
``authenticated`` says a token vouched for the label: alert rules count only those.

``telemetry_counts`` / ``telemetry_latency`` (migrations ``0002`` and ``0004``) hold the
servers' request counts, keyed by model, version and the start of a time bucket (epoch
seconds); a server's flush adds to the row with an upsert, so N workers writing the same
bucket sum up instead of overwriting each other. Buckets older than the retention are
folded into bucket 0, one all-time row per model and version, so ``/metrics`` counters
never go down. The server writes them (:mod:`deploykit.server.telemetry`); monitoring
reads them (:mod:`deploykit.monitoring.telemetry`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from deploykit.registry.tables import ACTOR, JSON, NAME, NAMING_CONVENTION, TIME, stamp

__all__ = [
    "alert_rules",
    "drift_settings",
    "feedback",
    "metadata",
    "telemetry_counts",
    "telemetry_latency",
]

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def _bucket_key() -> tuple[sa.Column[Any], ...]:
    """A telemetry row's key: model, version and the start of its bucket (epoch seconds)."""
    return (
        sa.Column("model", NAME, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
    )


alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
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
    sa.UniqueConstraint("model", "name"),
)

drift_settings = sa.Table(
    "drift_settings",
    metadata,
    sa.Column("model", NAME, primary_key=True),
    sa.Column("options", JSON, nullable=False),
    *stamp("updated"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", NAME, nullable=False),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("label", JSON, nullable=True),
    sa.Column("at", TIME, nullable=False),
    sa.Column("actor", ACTOR, nullable=False),
    sa.Column("authenticated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index(None, "model", "request_id"),
)

telemetry_counts = sa.Table(
    "telemetry_counts",
    metadata,
    *_bucket_key(),
    sa.Column("width", sa.Integer, nullable=False),  # bucket width in seconds
    sa.Column("requests", sa.BigInteger, nullable=False),
    sa.Column("errors_4xx", sa.BigInteger, nullable=False),
    sa.Column("errors_5xx", sa.BigInteger, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("latency_sum_ms", sa.Float, nullable=False),
    sa.Index(None, "bucket"),  # retention finds old buckets without a full scan (0004)
)

telemetry_latency = sa.Table(
    "telemetry_latency",
    metadata,
    *_bucket_key(),
    sa.Column("le_index", sa.Integer, primary_key=True),  # index into LATENCY_EDGES_MS
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index(None, "bucket"),
)
