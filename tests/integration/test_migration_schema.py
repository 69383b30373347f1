"""On PostgreSQL, every shipped migration still produces the schema it was recorded with.

The SQLite twin, and why, is ``tests/registry/test_migration_schema.py``; the record
here is ``tests/registry/schemas/postgresql.json``.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from tests.registry.schema_snapshot import (
    downgrade_step_by_step,
    expected,
    load_record,
    revisions,
    upgrade_step_by_step,
)


def test_upgrading_and_downgrading_step_by_step_gives_the_recorded_schemas(postgres):
    recorded = load_record("postgresql")
    assert list(recorded) == revisions(), (
        "record new revisions: see tests/registry/schema_snapshot.py"
    )
    database = f"dk_schema_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres.create(database))
    try:
        for revision, schema in upgrade_step_by_step(engine):
            assert schema == expected(recorded, revision), f"revision {revision}"
        for target, schema in downgrade_step_by_step(engine):
            assert schema == expected(recorded, target), f"downgrade to {target}"
        assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    finally:
        engine.dispose()
        postgres.drop(database)
