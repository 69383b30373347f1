import json
import sqlite3
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from deploykit.errors import ConfigurationError
from deploykit.monitoring import tables as monitoring_tables
from deploykit.registry import Registry
from deploykit.registry import tables as registry_tables
from deploykit.registry.database import create_engine
from deploykit.registry.migrate import HEAD_REVISION, alembic_config, current_revision
from deploykit.registry.tables import metadata
from deploykit.server import tables as server_tables


def test_head_revision_constant_matches_the_migrations_shipped():
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert heads == [HEAD_REVISION]


def test_opening_a_fresh_database_migrates_it_to_head(reg):
    assert current_revision(reg.engine) == HEAD_REVISION
    assert set(metadata.tables) <= set(sa.inspect(reg.engine).get_table_names())


@pytest.mark.parametrize(
    "tables", [registry_tables, monitoring_tables, server_tables], ids=lambda m: m.__name__
)
def test_migrated_schema_matches_the_tables_the_code_queries(reg, tables):
    def ours(obj, name, type_, reflected, compare_to):
        # Each tables module is compared with the tables it declares; the others' are its own.
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or table in tables.metadata.tables

    with reg.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, tables.metadata) == []


def test_database_is_sqlite_in_wal_mode_under_home(reg, deploykit_home):
    db = deploykit_home / "registry.db"
    assert db.is_file()
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_is_cheap_and_keeps_data(reg, model, deploykit_home):
    reg.push(model, "churn")
    reg.close()
    script = (
        "import sys, json\n"
        "from deploykit.registry import Registry\n"
        "with Registry() as reg:\n"
        "    versions = [v.version for v in reg.versions('churn')]\n"
        "heavy = [m for m in ('alembic', 'sklearn', 'pandas') if m in sys.modules]\n"
        "print(json.dumps({'versions': versions, 'heavy': heavy}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    # Listing needs neither migrations nor the data stack: the CLI and the console start fast.
    assert json.loads(out) == {"versions": [1], "heavy": []}


def test_a_database_at_an_older_revision_is_upgraded_keeping_its_data(deploykit_home, model):
    url = f"sqlite:///{deploykit_home / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    engine.dispose()
    assert current_revision(create_engine(url)) == "0001"
    with Registry(database_url=url) as reg:
        assert current_revision(reg.engine) == HEAD_REVISION
        reg.push(model, "churn")
        assert [v.version for v in reg.versions("churn")] == [1]


def test_a_database_from_a_newer_deploykit_is_refused_clearly(deploykit_home):
    url = f"sqlite:///{deploykit_home / 'future.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    engine.dispose()
    with pytest.raises(ConfigurationError, match="upgrade deploykit"):
        Registry(database_url=url)
