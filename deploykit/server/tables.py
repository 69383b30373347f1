"""The server's tables in the registry database: tokens and secrets.

Migration ``0002`` (``deploykit/registry/migrations/versions/0002_server.py``)
creates them; this module is what the server queries against. They live in the
registry's database so that every replica shares them: a token created on one
host works on all.

- ``tokens`` keeps only the sha256 of each token: the token itself is shown once.
- ``telemetry_counts`` / ``telemetry_latency`` (request counts and latency) and
  ``feedback`` (true labels) are monitoring's data, declared in
  :mod:`deploykit.monitoring.tables`; the server writes them from there.
- ``server_secrets`` holds keys every replica must share, such as the one that signs
  request ids (:mod:`deploykit.server.request_ids`); migration ``0005``.
"""

from __future__ import annotations

import sqlalchemy as sa

from deploykit.registry.tables import ACTOR, NAMING_CONVENTION, TIME, stamp

__all__ = [
    "metadata",
    "server_secrets",
    "tokens",
]

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", ACTOR, nullable=False),  # shown as the actor of what the token does
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    *stamp("created"),
    sa.Column("revoked_at", TIME, nullable=True),
)

server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),  # hex
    sa.Column("created_at", TIME, nullable=False),
)
