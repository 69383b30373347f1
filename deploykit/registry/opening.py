"""Which settings a Registry opens with, and making its home folder only when it is used."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from deploykit.registry.database import sqlite_path
from deploykit.settings import Settings

__all__ = ["ensure_home_if_used", "resolve_settings"]


def resolve_settings(
    settings: Settings | None,
    *,
    home: str | os.PathLike[str] | None = None,
    database_url: str | None = None,
    artifacts_url: str | None = None,
    actor: str | None = None,
) -> Settings:
    """``settings`` (default: from ``DEPLOYKIT_*``) with the given fields overridden.

    Without ``settings``, ``home`` acts like ``DEPLOYKIT_HOME``: the default database
    and artifact folder move with it, unless their own variables are set.
    """
    if settings is None:
        environ = dict(os.environ)
        if home is not None:
            environ["DEPLOYKIT_HOME"] = os.fspath(home)
        settings = Settings.from_env(environ)
    elif home is not None:
        settings = settings.replace(home=Path(home).expanduser())
    changes = {
        key: value
        for key, value in (
            ("database_url", database_url),
            ("artifacts_url", artifacts_url),
            ("actor", actor),
        )
        if value is not None
    }
    return settings.replace(**changes) if changes else settings


def ensure_home_if_used(settings: Settings) -> None:
    """Create the home folder if the database or the artifacts live in it.

    A team setup (PostgreSQL, S3) must not fail on an unwritable home it never uses;
    the embedded default must fail early, with Settings.ensure_home's clear message.
    """
    try:
        db_file = sqlite_path(make_url(settings.database_url))
    except ArgumentError:
        db_file = None  # create_engine reports the malformed URL
    artifacts = None if "://" in settings.artifacts_url else Path(settings.artifacts_url)
    if any(p is not None and _inside(p, settings.home) for p in (db_file, artifacts)):
        settings.ensure_home()
        _private_files(settings.home, db_file)


def _private_files(home: Path, db_file: Path | None) -> None:
    """The database (created 0600 before SQLite creates it 0644) and the token: private.

    SQLite gives its -wal and -shm files the database file's mode.
    """
    from deploykit._files import create_private, tighten

    if db_file is not None and _inside(db_file, home):
        try:
            create_private(db_file)
        except OSError:
            return  # the engine reports an unusable database path in its own words
        for suffix in ("", "-wal", "-shm"):
            tighten(db_file.with_name(db_file.name + suffix))
    tighten(home / "token")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.expanduser().absolute().relative_to(folder.expanduser().absolute())
    except ValueError:
        return False
    return True
