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
- ``experiments`` holds shadows and canaries. ``running_model`` is the model's name while
  one runs and NULL after: a unique column NULLs do not collide in, so at most one
  experiment per model runs, on any backend, without a partial index.
- ``version_lineage`` holds where a version came from (notebook, cells hash, git, the
  package lock) and its reference sample; ``card_revisions`` each revision of its card
  (revision 1 written at push, later ones by amendments). Migration ``0007``.
- ``events`` is the append-only audit log; it names models by name so it reads
  without joins and keeps working for actions that concern no version.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = [
    "ACTOR",
    "JSON",
    "NAME",
    "NAMING_CONVENTION",
    "TIME",
    "alias_moves",
    "aliases",
    "card_revisions",
    "events",
    "experiments",
    "metadata",
    "models",
    "stamp",
    "version_lineage",
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
JSON = sa.JSON(none_as_null=True)
#: Timestamps with their zone, on every backend (the other tables modules use it too).
TIME = sa.DateTime(timezone=True)
#: A model or alias name: 1 to 128 characters (deploykit/registry/names.py).
NAME = sa.String(128)
#: Who did something: a user (``DEPLOYKIT_ACTOR``) or a token's name.
ACTOR = sa.String(256)


def stamp(event: str, *, nullable: bool = False) -> tuple[sa.Column[Any], sa.Column[Any]]:
    """When and by whom something happened: ``<event>_at`` and ``<event>_by``."""
    return (
        sa.Column(f"{event}_at", TIME, nullable=nullable),
        sa.Column(f"{event}_by", ACTOR, nullable=nullable),
    )


def _beside_versions(name: str, *columns: sa.Column[Any]) -> sa.Table:
    """A table of one row per version, kept apart so that listing versions never reads it."""
    return sa.Table(
        name,
        metadata,
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), primary_key=True),
        *columns,
    )


models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("created_at", TIME, nullable=False),
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
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("author", ACTOR, nullable=False),
    sa.Column("estimator", sa.String(512), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("notebook", sa.String(1024), nullable=True),
    sa.Column("signature", JSON, nullable=True),
    sa.Column("metrics", JSON, nullable=False),
    sa.Column("evaluation", JSON, nullable=True),
    sa.Column("gate", JSON, nullable=True),
    sa.Column("params", JSON, nullable=False),
    sa.Column("data_fingerprint", JSON, nullable=True),
    sa.Column("environment", JSON, nullable=False),
    sa.Column("runtime", JSON, nullable=True),  # deploykit.compile.RuntimeInfo; NULL: sklearn
    sa.UniqueConstraint("model_id", "version"),
)

version_profiles = _beside_versions("version_profiles", sa.Column("profile", JSON, nullable=False))

alias_moves = sa.Table(
    "alias_moves",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("alias", NAME, nullable=False),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),  # NULL: the alias was deleted
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("at", TIME, nullable=False),
    sa.Column("actor", ACTOR, nullable=False),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("stack_parent_id", sa.Integer, sa.ForeignKey("alias_moves.id"), nullable=True),
    sa.Index(None, "model_id", "alias", "id"),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("name", NAME, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("move_id", sa.Integer, sa.ForeignKey("alias_moves.id"), nullable=False),
    *stamp("updated"),
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
    sa.Column("at", TIME, nullable=False, index=True),
    sa.Column("actor", ACTOR, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("model", NAME, nullable=False),
    sa.Column("alias", NAME, nullable=True),
    sa.Column("from_version", sa.Integer, nullable=True),
    sa.Column("to_version", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("details", JSON, nullable=False),
    sa.Index(None, "model", "id"),
)

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", NAME, nullable=False, index=True),
    sa.Column("running_model", NAME, nullable=True, unique=True),
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
    sa.Column("next_check_at", sa.Float, nullable=True),  # the judge's lease (one replica)
)

version_lineage = _beside_versions(
    "version_lineage",
    sa.Column("lineage", JSON, nullable=True),
    sa.Column("reference", JSON, nullable=True),
)

card_revisions = sa.Table(
    "card_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("fields", JSON, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("actor", ACTOR, nullable=False),
    sa.UniqueConstraint("version_id", "revision"),
)
