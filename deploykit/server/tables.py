"""The server's tables in the registry database: tokens, telemetry, secrets.

Migration ``0002`` (``deploykit/registry/migrations/versions/0002_server.py``)
creates them; this module is what the server queries against. They live in the
registry's database so that every replica shares them: a token created on one
host works on all, and telemetry rows are *increments* that replicas add up.

- ``tokens`` keeps only the sha256 of each token: the token itself is shown once.
- ``telemetry_counts`` / ``telemetry_latency`` are keyed by model, version and the
  start of a time bucket (epoch seconds); a flush adds to the row with an upsert,
  so N workers writing the same bucket sum up instead of overwriting each other.
  Buckets older than the retention are folded into bucket 0, one all-time row per
  model and version, so ``/metrics`` counters never go down.
- ``feedback`` (true labels the server receives) is monitoring's data, declared in
  :mod:`deploykit.monitoring.tables`; the server writes it from there.
- ``server_secrets`` holds keys every replica must share, such as the one that signs
  request ids (:mod:`deploykit.server.request_ids`); migration ``0005``.
"""

from __future__ import annotations

import sqlalchemy as sa

from deploykit.registry.tables import NAMING_CONVENTION

__all__ = [
    "metadata",
    "server_secrets",
    "telemetry_counts",
    "telemetry_latency",
    "tokens",
]

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

_TIME = sa.DateTime(timezone=True)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", _TIME, nullable=False),
    sa.Column("created_by", sa.String(256), nullable=False),
    sa.Column("revoked_at", _TIME, nullable=True),
)

telemetry_counts = sa.Table(
    "telemetry_counts",
    metadata,
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),  # epoch seconds of the bucket start
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
    sa.Column("model", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.BigInteger, primary_key=True),
    sa.Column("le_index", sa.Integer, primary_key=True),  # index into LATENCY_EDGES_MS
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Index(None, "bucket"),
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),  # hex
    sa.Column("created_at", _TIME, nullable=False),
)
