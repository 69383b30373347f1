"""The registry on PostgreSQL + S3 (Ceph RGW): what the embedded suite checks, on real services."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.errors import ArtifactIntegrityError
from deploykit.monitoring.logs import read_predictions
from deploykit.registry import Registry, history
from deploykit.registry.database import _PG_WRITE_LOCK_KEY, run_in_transaction
from deploykit.registry.events import append_event
from deploykit.registry.migrate import HEAD_REVISION, current_revision
from deploykit.registry.tables import models
from deploykit.server.predlog import PredictionLog
from tests.integration.conftest import Team
from tests.registry.test_concurrency import PROCESSES, PUSHES, WORKER
from tests.registry.test_crash import (
    KILLED_BEFORE_COMMIT,
    KILLED_DURING_SERIALIZATION,
    kill,
    run_until,
)
from tests.registry.test_load import _Trap


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    return pd.DataFrame(X, columns=["age", "tenure", "calls", "spend"]), y


def fit(data: tuple[pd.DataFrame, np.ndarray], C: float) -> LogisticRegression:
    X, y = data
    return LogisticRegression(C=C).fit(X, y)


def test_push_deploy_rollback_events_and_load_on_postgres_and_s3(
    team: Team,
    data: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, _ = data
    first, second = fit(data, 0.5), fit(data, 0.01)
    with team.registry() as reg:
        assert reg.engine.dialect.name == "postgresql"
        v1 = reg.push(first, "churn", X=X, description="baseline")
        v2 = reg.push(second, "churn", X=X, description="stronger prior")
        reg.push(first, "churn")  # same bytes again: a third version, no new object
        assert [v.version for v in reg.versions("churn")] == [1, 2, 3]
        # each version's bytes, and the ONNX file compiled from each beside it
        digests = [v1.digest, v2.digest]
        digests += [v.runtime["digest"] for v in (v1, v2) if v.runtime and v.runtime.get("digest")]
        keys = [f"{team.prefix}/sha256/{d[7:9]}/{d[9:]}" for d in digests]
        assert len(keys) == 4, [v.runtime for v in (v1, v2)]
        assert team.objects() == sorted(keys)

        reg.deploy("churn", 1)
        reg.deploy("churn", 2, reason="better recall")
        moved = reg.rollback("churn", reason="latency")
        assert moved.version == 1
        assert reg.alias_versions() == {"churn": 1}
        assert [e.action for e in reg.events("churn")] == [
            "rollback",
            "deploy",
            "deploy",
            "push",
            "push",
            "push",
        ]
        assert reg.events("churn", action="rollback")[0].reason == "latency"
        profile = reg.profile("churn", 2)
        assert profile is not None
        assert profile.rows == len(X)

    # Another host: nothing cached locally, so the bytes come from the bucket, verified.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other-host-cache"))
    with Registry(team.settings) as other:
        assert (other.load("churn").predict(X) == first.predict(X)).all()  # production: v1
        assert (other.load("churn", 2).predict(X) == second.predict(X)).all()
    downloaded = list((tmp_path / "other-host-cache").rglob("sha256/*/*"))
    assert len(downloaded) == 2


def test_a_tampered_object_in_the_bucket_is_refused_and_never_unpickled(
    team: Team, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path, monkeypatch
) -> None:
    with team.registry() as reg:
        version = reg.push(fit(data, 1.0), "churn", deploy=True)
    d = version.digest
    marker = tmp_path / "unpickled"
    team.s3.filesystem().pipe(f"{team.prefix}/sha256/{d[7:9]}/{d[9:]}", pickle.dumps(_Trap(marker)))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # no verified copy
    with Registry() as reg, pytest.raises(ArtifactIntegrityError, match=d):
        reg.load("churn")
    assert not marker.exists()


def test_prediction_logs_are_written_to_and_read_from_s3(team: Team) -> None:
    log = PredictionLog(
        team.settings.artifacts_url, storage_options=team.settings.storage_options()
    )
    X = np.arange(12.0).reshape(4, 3)
    log.add("r1", "churn", 2, X[:3], np.array([0, 1, 0]))
    log.add("r2", "churn", 2, X[3:], np.array([1]))
    assert log.flush() == 4
    log.add("r3", "churn", 3, X[:1], np.array([1]))
    assert log.flush() == 1
    files = team.s3.filesystem().find(f"{team.prefix}/predictions/churn")
    assert len(files) == 2
    assert all(f.endswith(".parquet") for f in files)
    # Read back with the endpoint from DEPLOYKIT_S3_ENDPOINT_URL (the fixture's environment).
    frame = read_predictions(team.settings.artifacts_url, "churn")
    assert sorted(frame["request_id"]) == ["r1", "r1", "r1", "r2", "r3"]
    assert frame["input.0"].tolist() == [0.0, 3.0, 6.0, 9.0, 0.0]
    assert read_predictions(team.settings.artifacts_url, "churn", version=3)[
        "prediction"
    ].tolist() == [1]


@pytest.mark.slow
def test_eight_processes_pushing_at_once_on_a_database_none_of_them_created(
    fresh_team: Team, tmp_path: Path
) -> None:
    engine = sa.create_engine(fresh_team.settings.database_url)
    assert current_revision(engine) is None
    engine.dispose()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(PUSHES), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(PROCESSES)
    ]
    time.sleep(1.5)
    go.touch()
    numbers = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        numbers += json.loads(out)
    total = PROCESSES * PUSHES
    assert sorted(numbers) == list(range(1, total + 1))
    with fresh_team.registry() as reg:
        assert current_revision(reg.engine) == HEAD_REVISION
        versions = reg.versions("churn")
        assert [v.version for v in versions] == list(range(1, total + 1))
        assert len(reg.events("churn", action="push")) == total
        assert len({v.digest for v in versions}) == PROCESSES
    assert len(fresh_team.objects()) == PROCESSES


@pytest.mark.slow
def test_sigkill_during_serialization_leaves_no_version(
    team: Team, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    with team.registry() as reg:
        reg.push(fit(data, 1.0), "churn")
        child = run_until(KILLED_DURING_SERIALIZATION, tmp_path, (tmp_path / "marker").exists)
        kill(child)
        assert [v.version for v in reg.versions("churn")] == [1]
        assert len(team.objects()) == 1  # nothing half-uploaded under a digest's name
        assert reg.push(fit(data, 2.0), "churn").version == 2


@pytest.mark.slow
def test_sigkill_between_upload_and_commit_leaves_no_version(
    team: Team, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    with team.registry() as reg:
        reg.push(fit(data, 1.0), "churn")
        before = team.objects()
        # Hold the registry's write lock, as a long write transaction elsewhere would.
        blocker = reg.engine.connect()
        blocker.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_WRITE_LOCK_KEY)))
        try:
            child = run_until(
                KILLED_BEFORE_COMMIT, tmp_path, lambda: len(team.objects()) > len(before)
            )
            time.sleep(0.3)  # the child now waits for the lock inside its commit
            kill(child)
        finally:
            blocker.rollback()
            blocker.close()
        assert [v.version for v in reg.versions("churn")] == [1]
        assert len(reg.events()) == 1
        assert reg.push(fit(data, 3.0), "churn").version == 2


def test_event_ids_become_visible_in_the_order_they_were_assigned(
    team: Team, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    """On PostgreSQL, a transaction that took id N can commit after one that took N+1:
    a poller of max(id) would then skip N. Registry writes are serialized, so it can't."""
    with team.registry() as reg:
        reg.push(fit(data, 1.0), "churn")
        reg.push(fit(data, 2.0), "churn", deploy=True)
        seen = reg.last_event_id()
        holding, release = threading.Event(), threading.Event()

        def slow_alert(connection: sa.Connection) -> int:
            event_id = append_event(
                connection, at=pd.Timestamp.now("UTC"), actor="a", action="alert", model="churn"
            )
            holding.set()
            release.wait(10)
            return event_id

        results: dict[str, int] = {}
        a = threading.Thread(
            target=lambda: results.update(a=run_in_transaction(reg.engine, slow_alert))
        )
        a.start()
        assert holding.wait(10)
        b = threading.Thread(target=lambda: results.update(b=reg.deploy("churn", 1).version))
        b.start()
        time.sleep(0.5)
        assert b.is_alive(), "the second writer must wait for the first to commit"
        assert reg.last_event_id() == seen  # nothing visible yet, not even the later id
        release.set()
        a.join(10)
        b.join(10)
        ids = [e.id for e in reg.events("churn", limit=2)]
        assert ids == [seen + 2, seen + 1]  # the deploy after the alert, in commit order
        assert reg.events("churn", limit=1)[0].action == "deploy"
        assert results == {"a": seen + 1, "b": 1}


def test_alias_moves_wake_a_watcher_at_commit(
    team: Team, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    with team.registry() as reg:
        reg.push(fit(data, 1.0), "churn", deploy=True)
        reg.push(fit(data, 2.0), "churn")
        watcher = reg.watch_aliases()
        try:
            assert watcher.wait(0.05) is False  # connects and LISTENs
            assert watcher.listening

            def aborted(connection: sa.Connection) -> None:
                model_id = connection.execute(
                    sa.select(models.c.id).where(models.c.name == "churn")
                ).scalar_one()
                now = pd.Timestamp.now("UTC")
                move = history.AliasMove(model_id, "churn", "production", "a", now, None)
                history.deploy(connection, move, version=2)
                raise RuntimeError("abort")

            with pytest.raises(Exception, match="abort"):
                run_in_transaction(reg.engine, aborted)
            assert watcher.wait(0.3) is False  # a rolled-back move announces nothing

            timer = threading.Timer(0.2, reg.deploy, args=("churn", 2))
            start = time.monotonic()
            timer.start()
            assert watcher.wait(10) is True
            assert time.monotonic() - start < 1.0
            assert reg.alias_versions() == {"churn": 2}
            timer.join()
        finally:
            watcher.close()


def test_a_watcher_whose_connection_drops_polls_then_listens_again(
    team: Team, data: tuple[pd.DataFrame, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("deploykit.registry.watch._RECONNECT_AFTER_S", 0.2)
    with team.registry() as reg:
        reg.push(fit(data, 1.0), "churn", deploy=True)
        reg.push(fit(data, 2.0), "churn")
        watcher = reg.watch_aliases()
        try:
            watcher.wait(0.05)
            assert watcher.listening
            with reg.engine.connect() as conn:  # the database drops the listener
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                    )
                )
            assert watcher.wait(1.0) is False
            assert not watcher.listening  # polling: the follower still re-reads every wait
            time.sleep(0.3)
            watcher.wait(0.05)  # reconnects
            assert watcher.listening
            timer = threading.Timer(0.1, reg.deploy, args=("churn", 2))
            timer.start()
            assert watcher.wait(10) is True
            # The deploy may still hold a pooled connection: the engine is disposed after it.
            timer.join()
        finally:
            watcher.close()
