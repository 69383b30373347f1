"""The registry's tables, as SQLAlchemy Core objects.

The migrations in :mod:`deploykit.registry.migrations` create these tables; this
module is what the code queries against. ``tests/registry/test_migrate.py``
checks that the two agree, so a column added here without a migration fails.

Shape, and why:

- ``models.last_version`` is the per-model version counter. A push bumps it with
  an ``UPDATE`` in the transaction that inserts the version, which takes the row
  lock on PostgreSQL and the write lock on SQLite, so concurrent pushes get
  distinct, consecutive numbers on any backend.
- ``version_profiles`` holds the reference profile (the largest payload) apart
  from ``versions`` so that listing versions never reads it.
- ``alias_moves`` is the full history of every alias. ``stack_parent_id`` links a
  move to the move it was stacked on: deploy pushes, rollback pops.
- ``events`` is the append-only audit log; it names models by name so it reads
  without joins and keeps working for actions that concern no version.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "NAMING_CONVENTION",
    "alias_moves",
    "aliases",
    "events",
    "metadata",
    "models",
    "version_profiles",
    "versions",
]

#: Constraint and index names of every deploykit table (registry, server, monitoring):
#: the migrations create them under these names.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

# Generic JSON: JSON text on SQLite, JSON on PostgreSQL. NULL stays SQL NULL.
_JSON = sa.JSON(none_as_null=True)
_TIME = sa.DateTime(timezone=True)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("created_at", _TIME, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(80), nullable=False, index=True),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("created_at", _TIME, nullable=False),
    sa.Column("author", sa.String(256), nullable=False),
    sa.Column("estimator", sa.String(512), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("notebook", sa.String(1024), nullable=True),
    sa.Column("signature", _JSON, nullable=True),
    sa.Column("metrics", _JSON, nullable=False),
    sa.Column("evaluation", _JSON, nullable=True),
    sa.Column("gate", _JSON, nullable=True),
    sa.Column("params", _JSON, nullable=False),
    sa.Column("data_fingerprint", _JSON, nullable=True),
    sa.Column("environment", _JSON, nullable=False),
    sa.Column("runtime", _JSON, nullable=True),  # deploykit.compile.RuntimeInfo; NULL: sklearn
    sa.UniqueConstraint("model_id", "version"),
)

version_profiles = sa.Table(
    "version_profiles",
    metadata,
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), primary_key=True),
    sa.Column("profile", _JSON, nullable=False),
)

alias_moves = sa.Table(
    "alias_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),  # NULL: the alias was deleted
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("at", _TIME, nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("stack_parent_id", sa.Integer, sa.ForeignKey("alias_moves.id"), nullable=True),
    sa.Index(None, "model_id", "alias", "id"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("move_id", sa.Integer, sa.ForeignKey("alias_moves.id"), nullable=False),
    sa.Column("updated_at", _TIME, nullable=False),
    sa.Column("updated_by", sa.String(256), nullable=False),
    sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["versions.model_id", "versions.version"],
        name="fk_aliases_version_versions",
    ),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", _TIME, nullable=False, index=True),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("alias", sa.String(128), nullable=True),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("details", _JSON, nullable=False),
    sa.Index(None, "model", "id"),
)
