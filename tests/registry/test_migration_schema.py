"""Every shipped migration still produces, to the letter, the schema it was recorded with.

Migrations are history: tidying how they are written (the helpers of
``deploykit/registry/migrations/_frozen.py``) must not change what they create on a
database that has not run them yet. The record is ``schemas/sqlite.json``; the same
check on PostgreSQL is in ``tests/integration/test_migration_schema.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.registry.schema_snapshot import (
    downgrade_step_by_step,
    expected,
    load_record,
    revisions,
    upgrade_step_by_step,
)


def test_every_shipped_revision_is_recorded():
    recorded = list(load_record("sqlite"))
    assert recorded == revisions(), (
        "record the schema of a new revision once: "
        "PYTHONPATH=$PWD python -m tests.registry.schema_snapshot sqlite:////tmp/empty.db"
    )


def test_upgrading_one_revision_at_a_time_gives_the_recorded_schema_at_each(tmp_path: Path):
    recorded = load_record("sqlite")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    seen = []
    for revision, schema in upgrade_step_by_step(engine):
        assert schema == expected(recorded, revision), f"revision {revision}"
        seen.append(revision)
    assert seen == list(recorded)
    # Down again, one revision at a time: each step lands on the schema of the one below.
    # Structure only: a batch rebuild (0005's downgrade) leaves SQLite's CREATE text with
    # the table name quoted, the same table otherwise.
    for target, schema in downgrade_step_by_step(engine):
        assert _structure(schema) == _structure(expected(recorded, target)), f"to {target}"
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()


def _structure(schema: dict[str, Any]) -> dict[str, Any]:
    return {table: {k: v for k, v in s.items() if k != "sql"} for table, s in schema.items()}
