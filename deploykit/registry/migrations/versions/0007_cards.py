"""Model cards: each version's lineage and reference sample, and its card revisions.

Revision ID: 0007
Revises: 0006_experiments
Create Date: 2026-12-02

``version_lineage`` keeps where a version came from (notebook, hash of the cells run,
git commit, the exact package lock) and a few training rows with the model's answers
on them, which ``deploykit verify`` reproduces. ``card_revisions`` keeps every
revision of a version's card: revision 1 written at push, later ones by amendments
(the version itself never changes). Versions pushed before this revision have
neither; their card is rendered on read from what the version holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import ACTOR, JSON, TIME, surrogate_key

revision: str = "0007"
down_revision: str | None = "0006_experiments"


def upgrade() -> None:
    op.create_table(
        "version_lineage",
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("lineage", JSON, nullable=True),
        sa.Column("reference", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_version_lineage_version_id_versions"
        ),
        sa.PrimaryKeyConstraint("version_id", name="pk_version_lineage"),
    )
    op.create_table(
        "card_revisions",
        *surrogate_key("card_revisions"),
        sa.Column("version_id", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("markdown", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("actor", ACTOR, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["versions.id"], name="fk_card_revisions_version_id_versions"
        ),
        sa.UniqueConstraint("version_id", "revision", name="uq_card_revisions_version_id_revision"),
    )


def downgrade() -> None:
    op.drop_table("card_revisions")
    op.drop_table("version_lineage")
