"""What the shipped migrations are written with: types and column groups, frozen.

A migration is history: on a database that has not run it yet, it must create exactly
what it created the day it shipped, whatever the live tables (``deploykit/*/tables.py``)
have become since. So the migrations never import the live tables, and **nothing here
changes once a migration uses it**: a migration that needs something else gets a new
helper beside the old one. ``tests/registry/test_migration_schema.py`` (SQLite) and
``tests/integration/test_migration_schema.py`` (PostgreSQL) hold every revision to the
schema recorded when it shipped.

The names follow deploykit's naming convention as the migrations spell it out
(``pk_<table>``), never through a ``MetaData``: a convention changed later must not
rename the constraints of old revisions.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["ACTOR", "JSON", "NAME", "TIME", "bucket_key", "stamp", "surrogate_key"]

#: JSON text on SQLite, JSON on PostgreSQL; None stays SQL NULL.
JSON = sa.JSON(none_as_null=True)
#: Timestamps with their zone, on every backend.
TIME = sa.DateTime(timezone=True)
#: A model or alias name (1 to 128 characters).
NAME = sa.String(128)
#: Who did something: a user, or a token's name.
ACTOR = sa.String(256)


def surrogate_key(table: str) -> tuple[sa.Column[int], sa.PrimaryKeyConstraint]:
    """``id``, an integer primary key named ``pk_<table>`` (SERIAL on PostgreSQL)."""
    return sa.Column("id", sa.Integer, nullable=False), sa.PrimaryKeyConstraint(
        "id", name=f"pk_{table}"
    )


def stamp(event: str, *, nullable: bool = False) -> tuple[sa.Column[object], ...]:
    """When and by whom something happened: ``<event>_at`` and ``<event>_by``."""
    return (
        sa.Column(f"{event}_at", TIME, nullable=nullable),
        sa.Column(f"{event}_by", ACTOR, nullable=nullable),
    )


def bucket_key() -> tuple[sa.Column[object], ...]:
    """The key columns of a telemetry row: model, version, start of its time bucket."""
    return (
        sa.Column("model", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
    )
