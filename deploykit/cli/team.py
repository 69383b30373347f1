"""Behind ``deploykit score`` and ``deploykit export``: app.py declares their flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from deploykit.errors import InvalidInputError
from deploykit.settings import Settings

if TYPE_CHECKING:
    from deploykit.backend import Backend

__all__ = ["export_command", "pick_ref", "score_command"]

# Progress goes to stderr: stdout stays clean for --json and pipes.
_stderr = Console(stderr=True, highlight=False)


def pick_ref(version: str | None, alias: str | None) -> str:
    """``--version`` or ``--alias`` (not both); ``production`` when neither is given."""
    if version is not None and alias is not None:
        raise InvalidInputError(
            f"Give --version or --alias, not both. Got --version {version} and --alias {alias}."
        )
    return version if version is not None else (alias or "production")


def score_command(
    registry: Backend,
    name: str,
    source: str,
    destination: str,
    *,
    ref: str,
    chunk_rows: int,
    proba: bool,
    keep: str | None,
    engine: str,
    as_json: bool,
) -> None:
    from deploykit.batch import score

    settings = Settings.from_env()
    options = settings.storage_options(source) or settings.storage_options(destination)
    columns = None if keep is None else [c.strip() for c in keep.split(",") if c.strip()]
    record = registry.version(name, ref)  # fail before the bar; "3" is version 3
    with Progress(
        TextColumn(f"scoring {record.ref}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_stderr,
        disable=as_json,
    ) as bar:
        task = bar.add_task("score", total=None)
        result = score(
            registry,
            name,
            source,
            destination,
            ref=record.version,
            chunk_rows=chunk_rows,
            proba=proba,
            keep=columns,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            storage_options=options,
            engine=engine,
        )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    Console(highlight=False).print(
        f"scored {result.rows:,} rows with {result.model}:{result.version} ({result.runtime}) in "
        f"{result.seconds:.1f} s ({result.rows_per_second:,.0f} rows/s) -> {result.output}"
    )


def export_command(
    registry: Backend,
    name: str,
    *,
    ref: str,
    directory: Path,
    image: str | None,
    force: bool,
    as_json: bool,
) -> None:
    from deploykit.export import export_docker

    result = export_docker(
        registry,
        name,
        ref,
        directory,
        image=image,
        force=force,
    )
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    Console(highlight=False, soft_wrap=True).print(
        f"exported {result.model}:{result.version} (Python {result.python}) to {result.directory}\n"
        f"build     docker build -t {result.image} {result.directory}\n"
        f"run       docker run -p 8080:8080 {result.image}\n"
        f"deploy    kubectl apply -f {result.directory / 'k8s'}"
    )
