"""The prediction-log format, owned here: where files go, their columns, and reading them.

The server (:mod:`deploykit.server.predlog`) writes one Parquet file per flush and
model version under the artifact store, through :func:`write_log_file`::

    <artifacts>/predictions/<model>/<YYYY-MM-DD>/<HHMMSS>-<host>-<pid>-<seq>.parquet

One row per predicted row, with columns ``request_id``, ``timestamp`` (UTC),
``version``, ``prediction``, ``probability.<class>`` (when asked for), then each input
column as ``input.<column>`` (``input.<i>`` for array models). A file is written under
a temporary name and renamed, so a reader never sees half of it (an object-store PUT
appears whole, so there it goes straight to its final key). :func:`read_log` lists the
day folders the period touches, then lets ``pyarrow.dataset`` read only the columns
asked for and only the row groups whose timestamps can match. Files written by
other versions may differ in columns or types: their schemas are unified (missing
columns read as null, int and float as float); columns whose types cannot be
unified are read as text, file by file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COLUMNS",
    "INPUT",
    "PREFIX",
    "PROBABILITY",
    "TIMESTAMP",
    "filesystem",
    "log_files",
    "read_log",
    "read_predictions",
    "write_log_file",
]

PREFIX = "predictions"
TIMESTAMP = pa.timestamp("us", tz="UTC")
#: The columns every log file starts with; then ``PROBABILITY`` and ``INPUT`` columns.
COLUMNS = ("request_id", "timestamp", "version", "prediction")
INPUT = "input."  # + the input column's name (or position, for array models)
PROBABILITY = "probability."  # + the class label


def filesystem(
    artifacts_url: str, storage_options: Mapping[str, Any] | None = None
) -> tuple[Any, str]:
    """(fsspec filesystem, root path without a trailing slash) of the artifact store."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(artifacts_url, **(storage_options or {}))
    return fs, root.rstrip("/")


def _env_options(
    artifacts_url: str, storage_options: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """``storage_options``, or for a remote store those of the ``DEPLOYKIT_*`` settings."""
    if storage_options is None and "://" in artifacts_url:
        from deploykit.settings import Settings  # the S3 endpoint of DEPLOYKIT_* settings

        return Settings.from_env().storage_options(artifacts_url)
    return storage_options


def _is_local(fs: Any) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def write_log_file(
    artifacts_url: str,
    model: str,
    table: pa.Table,
    *,
    at: datetime,
    tag: str,
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Write ``table`` (the columns above) as one log file of ``model``, named by ``at``
    (UTC: the day folder and the file's time) and ``tag`` (unique per writer and flush)."""
    import pyarrow.parquet as pq

    fs, root = filesystem(artifacts_url, _env_options(artifacts_url, storage_options))
    folder = f"{root}/{PREFIX}/{model}/{at:%Y-%m-%d}"
    name = f"{at:%H%M%S}-{tag}.parquet"
    options = _parquet_options(table)
    if not _is_local(fs):  # an object PUT is atomic: no temporary key, no copy
        with fs.open(f"{folder}/{name}", "wb") as f:
            pq.write_table(table, f, **options)
        return
    fs.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{name}.tmp"
    with fs.open(tmp, "wb") as f:
        pq.write_table(table, f, **options)
    fs.mv(tmp, f"{folder}/{name}")


def _parquet_options(table: pa.Table) -> dict[str, Any]:
    """zstd, and dictionaries only where values repeat (ids, labels, categories).

    Dictionary-encoding float columns made the writer 8x slower (468 against 62 ms for
    200k rows of 20 features) for a larger file: measured values rarely repeat.
    """
    repeats = [f.name for f in table.schema if not pa.types.is_floating(f.type)]
    return {"compression": "zstd", "use_dictionary": repeats}


def _day_files(fs: Any, base: str, first: date | None, last: date | None) -> list[str]:
    """The finished log files under ``base`` in the day folders ``first``..``last``."""
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
    return paths


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
    fs, root = filesystem(artifacts_url, storage_options)
    base = f"{root}/{PREFIX}/{model}"
    if not fs.exists(base):
        return fs, []
    first = (since - timedelta(days=1)).astimezone(timezone.utc).date() if since else None
    last = until.astimezone(timezone.utc).date() if until else None
    return fs, _day_files(fs, base, first, last)


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


def read_predictions(
    artifacts_url: str,
    model: str,
    *,
    since: date | None = None,
    until: date | None = None,
    version: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """The logged predictions of ``model`` (day folders ``since``..``until`` inclusive) as
    one pandas frame, every column, file after file: for a look in a notebook or a test.

    ``storage_options`` go to fsspec; by default those of the ``DEPLOYKIT_*`` settings.
    """
    import pandas as pd
    import pyarrow.parquet as pq

    fs, root = filesystem(artifacts_url, _env_options(artifacts_url, storage_options))
    base = f"{root}/{PREFIX}/{model}"
    paths = _day_files(fs, base, since, until) if fs.exists(base) else []
    frames = []
    for path in paths:
        with fs.open(path, "rb") as f:
            frames.append(pq.read_table(f).to_pandas())
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS))
    out = pd.concat(frames, ignore_index=True)
    if version is not None:
        out = out[out["version"] == version].reset_index(drop=True)
    return out
