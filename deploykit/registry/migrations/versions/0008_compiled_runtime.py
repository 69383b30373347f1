"""Compiled runtime: how each version runs (``onnx`` or ``sklearn`` and why).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

``versions.runtime`` holds :class:`deploykit.compile.RuntimeInfo` as JSON: the digest of
the ONNX artifact derived at push and verified against the original (which stays the
source of truth), or the reason the version serves with scikit-learn. NULL for versions
pushed before this revision: they serve with scikit-learn, as they always did.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import JSON

revision: str = "0008"
down_revision: str | None = "0007"


def upgrade() -> None:
    op.add_column("versions", sa.Column("runtime", JSON, nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "runtime")
