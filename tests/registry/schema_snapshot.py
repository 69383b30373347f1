"""The schema each migration leaves behind, as plain data, and the record it must match.

A migration is history: once shipped, the schema it produces must never change, even
when the helpers it is written with are tidied (``deploykit/registry/migrations/_frozen.py``).
``schemas/<dialect>.json`` records, for every revision, what ``sqlalchemy.inspect``
sees after upgrading an empty database to it step by step: tables, columns (type as the
dialect spells it, nullability, server default), primary and foreign keys, indexes,
unique and check constraints, and on SQLite the ``CREATE`` statements themselves. Each
revision holds the tables it changed (``null``: dropped); :func:`expected` adds them up.

A new revision is recorded once, from its first version::

    PYTHONPATH=$PWD python -m tests.registry.schema_snapshot sqlite:////tmp/empty.db
    PYTHONPATH=$PWD python -m tests.registry.schema_snapshot postgresql+psycopg://…/empty

Recording adds revisions the file lacks and never rewrites one it has.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from deploykit.registry.migrate import alembic_config

SCHEMAS = Path(__file__).with_name("schemas")


def revisions() -> list[str]:
    """Every revision shipped, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def record_path(dialect: str) -> Path:
    return SCHEMAS / f"{dialect}.json"


def load_record(dialect: str) -> dict[str, Any]:
    path = record_path(dialect)
    return json.loads(path.read_text()) if path.is_file() else {}


def expected(recorded: dict[str, Any], revision: str) -> dict[str, Any]:
    """The whole schema at ``revision`` (``base``: none), from the changes recorded up to it."""
    schema: dict[str, Any] = {}
    for name, changes in recorded.items():
        if revision == "base":
            break
        schema.update(changes)
        if name == revision:
            break
    else:
        raise KeyError(f"revision {revision} is not recorded in {list(recorded)}")
    return {table: value for table, value in sorted(schema.items()) if value is not None}


def _changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    dropped = {table: None for table in before if table not in after}
    return {**{t: v for t, v in after.items() if before.get(t) != v}, **dropped}


def describe(connection: sa.Connection) -> dict[str, Any]:
    """The schema behind ``connection`` as JSON-ready data, in a stable order."""
    inspector = sa.inspect(connection)
    dialect = connection.dialect
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        if name == "alembic_version":
            continue
        tables[name] = {
            "columns": [
                [
                    column["name"],
                    column["type"].compile(dialect=dialect),
                    column["nullable"],
                    None if column.get("default") is None else str(column["default"]),
                ]
                for column in inspector.get_columns(name)  # in the table's own order
            ],
            "primary_key": inspector.get_pk_constraint(name),
            "foreign_keys": _sorted(inspector.get_foreign_keys(name)),
            "indexes": _sorted(inspector.get_indexes(name)),
            "unique": _sorted(inspector.get_unique_constraints(name)),
            "checks": _sorted(inspector.get_check_constraints(name)),
        }
    if dialect.name == "sqlite":  # the statements themselves, to the letter
        rows = connection.exec_driver_sql(
            "SELECT tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type DESC, name"
        )
        for table, sql in rows:
            if table in tables:
                tables[table].setdefault("sql", []).append(sql)
    return json.loads(json.dumps(tables, default=str))  # tuples -> lists, as the file holds


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))


def upgrade_step_by_step(engine: sa.Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    """Upgrade an empty database one revision at a time: each revision and the schema after it."""
    for revision in revisions():
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
        with engine.connect() as connection:
            yield revision, describe(connection)


def downgrade_step_by_step(engine: sa.Engine) -> Iterator[tuple[str, dict[str, Any]]]:
    """Downgrade a database at head one revision at a time: where it lands and the schema there."""
    for target in [*reversed(revisions()[:-1]), "base"]:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), target)
        with engine.connect() as connection:
            yield target, describe(connection)


def record(url: str) -> None:
    engine = sa.create_engine(url)
    dialect = engine.dialect.name
    recorded = load_record(dialect)
    before: dict[str, Any] = {}
    for revision, schema in upgrade_step_by_step(engine):
        if revision not in recorded:
            recorded[revision] = _changes(before, schema)
            print(f"recorded {revision}")
        elif expected(recorded, revision) != schema:
            sys.exit(f"{revision} differs from its record: a shipped migration changed")
        before = schema
    engine.dispose()
    SCHEMAS.mkdir(exist_ok=True)
    record_path(dialect).write_text(_format(recorded))


def _format(recorded: dict[str, Any]) -> str:
    """JSON with one line per column, index or constraint: diffs that read."""

    def block(value: Any, depth: int) -> str:
        pad = " " * depth
        if isinstance(value, dict) and depth < 3:
            items = [f"{pad} {json.dumps(k)}: {block(v, depth + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}" if items else "{}"
        if isinstance(value, list) and value:
            items = [f"{pad} {json.dumps(v, sort_keys=True)}" for v in value]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return json.dumps(value, sort_keys=True)

    return block(recorded, 0) + "\n"


if __name__ == "__main__":
    record(sys.argv[1])
