"""Read prediction logs straight from Parquet, filtered and projected by pyarrow.

The server writes one Parquet file per flush under the artifact store::

    <artifacts>/predictions/<model>/<YYYY-MM-DD>/<HHMMSS>-<host>-<pid>-<seq>.parquet

with columns ``request_id``, ``timestamp`` (UTC), ``version``, ``prediction`` and
``input.<column>`` (see :mod:`deploykit.server.predlog`). :func:`read_log` lists the
day folders the period touches, then lets ``pyarrow.dataset`` read only the columns
asked for and only the row groups whose timestamps can match. Files written by
other versions may differ in columns or types: their schemas are unified (missing
columns read as null, int and float as float); columns whose types cannot be
unified are read as text, file by file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

__all__ = ["PREFIX", "log_files", "read_log"]

PREFIX = "predictions"
TIMESTAMP = pa.timestamp("us", tz="UTC")


def _filesystem(
    artifacts_url: str, storage_options: Mapping[str, Any] | None = None
) -> tuple[Any, str]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(artifacts_url, **(storage_options or {}))
    return fs, root.rstrip("/")


def log_files(
    artifacts_url: str,
    model: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> tuple[Any, list[str]]:
    """(filesystem, paths) of the log files of ``model`` whose day folder can hold the period.

    A file sits in the folder of its first record's day, so the day before ``since``
    is read too (a flush can straddle midnight).
    """
    fs, root = _filesystem(artifacts_url, storage_options)
    base = f"{root}/{PREFIX}/{model}"
    if not fs.exists(base):
        return fs, []
    first = (since - timedelta(days=1)).astimezone(timezone.utc).date() if since else None
    last = until.astimezone(timezone.utc).date() if until else None
    paths: list[str] = []
    for folder in sorted(fs.ls(base, detail=False)):
        try:
            day = date.fromisoformat(folder.rstrip("/").rsplit("/", 1)[-1])
        except ValueError:
            continue
        if (first and day < first) or (last and day > last):
            continue
        for path in sorted(fs.ls(folder, detail=False)):
            name = path.rsplit("/", 1)[-1]
            if name.endswith(".parquet") and not name.startswith("."):
                paths.append(path)
    return fs, paths


def read_log(
    artifacts_url: str,
    model: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
    columns: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pa.Table:
    """The logged rows of ``model`` with ``since <= timestamp < until`` (and ``version``).

    ``columns`` picks columns (those absent from every file are left out); all by default.
    ``storage_options`` go to fsspec (S3 endpoint...).
    """
    fs, paths = log_files(
        artifacts_url, model, since=since, until=until, storage_options=storage_options
    )
    if not paths:
        return pa.table({"timestamp": pa.array([], type=TIMESTAMP)})
    # Imported here: pyarrow.dataset costs every server worker ~7 MB of resident memory,
    # and most workers never read a log back.
    import pyarrow.dataset as ds

    where = _filter(since, until, version)
    try:
        dataset = ds.dataset(paths, format="parquet", filesystem=fs)
        schema = pa.unify_schemas(
            [f.physical_schema for f in dataset.get_fragments()], promote_options="permissive"
        )
        wanted = _wanted(schema, columns)
        dataset = ds.dataset(paths, format="parquet", filesystem=fs, schema=schema)
        return dataset.to_table(columns=wanted, filter=where)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return _file_by_file(fs, paths, columns, where)


def _filter(since: datetime | None, until: datetime | None, version: int | None) -> Any:
    import pyarrow.dataset as ds

    clauses = []
    if since is not None:
        clauses.append(ds.field("timestamp") >= pa.scalar(since, type=TIMESTAMP))
    if until is not None:
        clauses.append(ds.field("timestamp") < pa.scalar(until, type=TIMESTAMP))
    if version is not None:
        clauses.append(ds.field("version") == version)
    where = None
    for clause in clauses:
        where = clause if where is None else where & clause
    return where


def _wanted(schema: pa.Schema, columns: Sequence[str] | None) -> list[str]:
    names = schema.names
    return list(names) if columns is None else [c for c in columns if c in names]


def _file_by_file(fs: Any, paths: list[str], columns: Sequence[str] | None, where: Any) -> pa.Table:
    """Slow path: types clash between files; clashing columns become text."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    tables = []
    for path in paths:
        with fs.open(path, "rb") as f:
            table = pq.read_table(f)
        table = ds.dataset(table).to_table(columns=_wanted(table.schema, columns), filter=where)
        tables.append(table)
    types: dict[str, set[pa.DataType]] = {}
    for table in tables:
        for field in table.schema:
            types.setdefault(field.name, set()).add(field.type)
    clashing = {name for name, kinds in types.items() if len(kinds) > 1}
    fixed = []
    for table in tables:
        for name in clashing & set(table.column_names):
            i = table.column_names.index(name)
            table = table.set_column(i, name, table.column(i).cast(pa.string()))
        fixed.append(table)
    return pa.concat_tables(fixed, promote_options="permissive")
