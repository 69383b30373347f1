"""Initial registry schema: models, versions, profiles, aliases and their history, events.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import ACTOR, JSON, NAME, TIME, stamp, surrogate_key

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    op.create_table(
        "models",
        *surrogate_key("models"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("last_version", sa.Integer, nullable=False, server_default="0"),
        sa.UniqueConstraint("name", name="uq_models_name"),
    )
    op.create_table(
        "versions",
        *surrogate_key("versions"),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
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
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_versions_model_id_models"),
        sa.UniqueConstraint("model_id", "version", name="uq_versions_model_id_version"),
    )
    op.create_index("ix_versions_digest", "versions", ["digest"])
    op.create_table(
        "version_profiles",
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("profile", JSON, nullable=False),
        sa.PrimaryKeyConstraint("version_id", name="pk_version_profiles"),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_version_profiles_version_id_versions"
        ),
    )
    op.create_table(
        "alias_moves",
        *surrogate_key("alias_moves"),
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("alias", NAME, nullable=False),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", ACTOR, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("stack_parent_id", sa.Integer, nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_alias_moves_model_id_models"),
        sa.ForeignKeyConstraint(
            ["stack_parent_id"],
            ["alias_moves.id"],
            name="fk_alias_moves_stack_parent_id_alias_moves",
        ),
    )
    op.create_index("ix_alias_moves_model_id_alias_id", "alias_moves", ["model_id", "alias", "id"])
    op.create_table(
        "aliases",
        sa.Column("model_id", sa.Integer, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("move_id", sa.Integer, nullable=False),
        *stamp("updated"),
        sa.PrimaryKeyConstraint("model_id", "name", name="pk_aliases"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name="fk_aliases_model_id_models"),
        sa.ForeignKeyConstraint(
            ["move_id"], ["alias_moves.id"], name="fk_aliases_move_id_alias_moves"
        ),
        sa.ForeignKeyConstraint(
            ["model_id", "version"],
            ["versions.model_id", "versions.version"],
            name="fk_aliases_version_versions",
        ),
    )
    op.create_table(
        "events",
        *surrogate_key("events"),
        sa.Column("at", TIME, nullable=False),
        sa.Column("actor", ACTOR, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("model", NAME, nullable=False),
        sa.Column("alias", NAME, nullable=True),
        sa.Column("from_version", sa.Integer, nullable=True),
        sa.Column("to_version", sa.Integer, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_model_id", "events", ["model", "id"])


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("aliases")
    op.drop_table("alias_moves")
    op.drop_table("version_profiles")
    op.drop_table("versions")
    op.drop_table("models")
