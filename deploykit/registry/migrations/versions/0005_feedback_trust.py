"""Feedback trust: who vouched for each label, and the key that signs request ids.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

``feedback.authenticated`` is true when a token with the feedback role sent the
label (deploykit/server/routes.py, ``post_feedback``); alert rules, which can roll
production back, count only those. Labels stored before this revision were taken
on request ids nobody checked, so they stay ``false``: they still show in the
drift view, but no rule acts on them.

``server_secrets`` keeps keys every replica shares; the first is ``request_ids``,
which signs the request id of each predict answer (deploykit/server/request_ids.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from deploykit.registry.migrations._frozen import TIME

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.add_column(
        "feedback",
        sa.Column("authenticated", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(256), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("authenticated")
