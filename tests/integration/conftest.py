"""The integration tier: the same registry and server, on a real PostgreSQL and a real Ceph RGW.

The services come from the environment (``scripts/test`` and ``.ci/run`` start them
with ``scripts/services/*.sh`` and export these):

=================================  ==============================================
``DEPLOYKIT_TEST_DATABASE_URL``    a PostgreSQL URL whose user may CREATE DATABASE
``DEPLOYKIT_TEST_S3_ENDPOINT``     an S3-compatible endpoint, ``http://127.0.0.1:7480``
``DEPLOYKIT_TEST_S3_ACCESS_KEY``   its access key (default ``deploykit``)
``DEPLOYKIT_TEST_S3_SECRET_KEY``   its secret key (default ``deploykit secret``)
``DEPLOYKIT_TEST_S3_BUCKET``       the bucket to use, created if missing
=================================  ==============================================

Without them the tier is *deselected*, never passed: pytest reports the count and
a closing line saying it did not run, and under ``CI`` the run fails instead.
Each test gets a database of its own (a copy of a migrated template: ~0.1 s) and
an S3 prefix of its own, both removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from deploykit.registry import Registry
from deploykit.settings import Settings

HERE = Path(__file__).parent
_DB_VAR = "DEPLOYKIT_TEST_DATABASE_URL"
_S3_VAR = "DEPLOYKIT_TEST_S3_ENDPOINT"
_missing: list[str] = []


def _services_missing() -> list[str]:
    return [var for var in (_DB_VAR, _S3_VAR) if not os.environ.get(var, "").strip()]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs the real PostgreSQL and S3 of tests/integration"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.path)).parents]
    for item in ours:
        item.add_marker(pytest.mark.integration)
    missing = _services_missing()
    if not ours or not missing:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(
            f"The integration tier needs {' and '.join(missing)} (CI must start PostgreSQL "
            "and Ceph RGW: see .ci/run)."
        )
    _missing[:] = missing
    config.hook.pytest_deselected(items=ours)
    items[:] = [item for item in items if item not in ours]
    _missing.append(str(len(ours)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _missing:
        *variables, count = _missing
        terminalreporter.write_line(
            f"integration tier NOT RUN ({count} tests deselected): {', '.join(variables)} "
            "unset. scripts/test starts PostgreSQL and Ceph RGW and runs it.",
            yellow=True,
            bold=True,
        )


# ------------------------------------------------------------------------ services
@dataclass(frozen=True)
class S3:
    endpoint: str
    key: str
    secret: str
    bucket: str

    def filesystem(self) -> Any:
        import s3fs

        return s3fs.S3FileSystem(
            endpoint_url=self.endpoint,
            key=self.key,
            secret=self.secret,
            use_listings_cache=False,
            skip_instance_cache=True,
        )


@pytest.fixture(scope="session")
def s3() -> S3:
    service = S3(
        endpoint=os.environ[_S3_VAR],
        key=os.environ.get("DEPLOYKIT_TEST_S3_ACCESS_KEY", "deploykit"),
        secret=os.environ.get("DEPLOYKIT_TEST_S3_SECRET_KEY", "deploykitsecret"),
        bucket=os.environ.get("DEPLOYKIT_TEST_S3_BUCKET", "deploykit-test"),
    )
    fs = service.filesystem()
    if not fs.exists(service.bucket):
        fs.mkdir(service.bucket)
    return service


@dataclass(frozen=True)
class Postgres:
    url: str  # the server's maintenance database, where databases are created

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)

    def url_of(self, database: str) -> str:
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def create(self, database: str, *, template: str | None = None) -> str:
        engine = self.engine()
        with engine.connect() as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.exec_driver_sql(f"CREATE DATABASE {database}{suffix}")
        engine.dispose()
        return self.url_of(database)

    def drop(self, database: str) -> None:
        engine = self.engine()
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        engine.dispose()


@pytest.fixture(scope="session")
def postgres() -> Postgres:
    return Postgres(os.environ[_DB_VAR])


@pytest.fixture(scope="session")
def template_db(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated to head once; each test's database is a copy of it."""
    name = f"dk_template_{os.getpid()}"
    postgres.drop(name)
    url = postgres.create(name)
    home = tmp_path_factory.mktemp("template-home")
    with Registry(database_url=url, artifacts_url=str(home / "artifacts"), home=home):
        pass  # opening migrates
    yield name
    postgres.drop(name)


# ------------------------------------------------------------------------ per test
@dataclass(frozen=True)
class Team:
    """One test's team setup: its own database and S3 prefix, and settings for both."""

    settings: Settings
    database: str
    prefix: str  # bucket/prefix, as s3fs names it
    s3: S3
    postgres: Postgres

    def registry(self, **changes: Any) -> Registry:
        return Registry(self.settings.replace(**changes) if changes else self.settings)

    def objects(self) -> list[str]:
        fs = self.s3.filesystem()
        return sorted(p for p in fs.find(f"{self.prefix}/sha256"))


def _team(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres: Postgres,
    s3: S3,
    database_url: str,
    database: str,
) -> Team:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_") and not key.startswith("DEPLOYKIT_TEST_"):
            monkeypatch.delenv(key)
    prefix = f"{s3.bucket}/{database}"
    home = tmp_path / "home"
    env = {
        "DEPLOYKIT_HOME": str(home),
        "DEPLOYKIT_DATABASE_URL": database_url,
        "DEPLOYKIT_ARTIFACTS_URL": f"s3://{prefix}",
        "DEPLOYKIT_S3_ENDPOINT_URL": s3.endpoint,
        "DEPLOYKIT_ACTOR": "tester",
        "DEPLOYKIT_FSYNC": "0",
        # Credentials through the usual AWS chain, as a team would set them.
        "AWS_ACCESS_KEY_ID": s3.key,
        "AWS_SECRET_ACCESS_KEY": s3.secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        # Downloaded copies of remote artifacts: per test, so each test really downloads.
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Team(Settings.from_env(env), database, prefix, s3, postgres)


@pytest.fixture
def team(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres: Postgres,
    s3: S3,
    template_db: str,
) -> Iterator[Team]:
    """PostgreSQL (migrated) + S3, empty, as DEPLOYKIT_* settings and environment."""
    database = f"dk_{uuid.uuid4().hex[:12]}"
    url = postgres.create(database, template=template_db)
    yield _team(tmp_path, monkeypatch, postgres, s3, url, database)
    _remove(postgres, s3, database)


@pytest.fixture
def fresh_team(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres: Postgres, s3: S3
) -> Iterator[Team]:
    """Like ``team`` but on an empty database no deploykit has migrated yet."""
    database = f"dk_{uuid.uuid4().hex[:12]}"
    url = postgres.create(database)
    yield _team(tmp_path, monkeypatch, postgres, s3, url, database)
    _remove(postgres, s3, database)


def _remove(postgres: Postgres, s3: S3, database: str) -> None:
    postgres.drop(database)
    with contextlib.suppress(FileNotFoundError):  # a test that stored nothing
        s3.filesystem().rm(f"{s3.bucket}/{database}", recursive=True)
