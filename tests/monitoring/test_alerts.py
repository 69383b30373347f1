"""Alert rules in the registry: validation, storage, turns between replicas, accuracy."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sklearn.linear_model import LogisticRegression

from deploykit.errors import InvalidInputError, ModelNotFoundError, NotFoundError
from deploykit.monitoring import (
    AlertRule,
    DriftOptions,
    alerts,
    delete_alert,
    drift_options,
    set_alert,
    set_drift_options,
)
from deploykit.monitoring.accuracy import accuracy, label_rows
from deploykit.monitoring.rules import check_rule
from deploykit.monitoring.store import claim_check, claim_fire
from deploykit.monitoring.tables import metadata
from deploykit.registry import Registry


@pytest.fixture
def reg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    for key in list(os.environ):
        if key.startswith("DEPLOYKIT_"):
            monkeypatch.delenv(key)
    with Registry(home=tmp_path, actor="tester") as registry:
        X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
        registry.push(LogisticRegression().fit(X, [0, 0, 1, 1]), "churn", X=X)
        yield registry


def test_the_monitoring_tables_match_their_migration(reg: Registry) -> None:
    def ours(obj: object, name: str, type_: str, reflected: bool, compare_to: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table is None or table in metadata.tables

    with reg.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": ours}
        )
        assert compare_metadata(context, metadata) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"metric": "errors"}, r"'metric' parameter of AlertRule must be one of 'error_rate'"),
        ({"threshold": 1.5}, r"'threshold' .* a number in \(0, 1\] for metric 'error_rate'"),
        ({"threshold": 0}, r"Got 0 instead"),
        ({"window_seconds": 5}, r"'window_seconds' .* an int in \[10, 2592000\]"),
        ({"rollback": "yes"}, r"'rollback' .* a bool"),
        ({"webhook": "ftp://x"}, r"'webhook' .* an http\(s\) URL"),
        ({"min_count": 0}, r"'min_count' .* an int >= 1 \(the least requests to judge on\)"),
        ({"name": ""}, r"'name' .* a rule name of 1 to 128 characters"),
    ],
)
def test_bad_rules_are_named(fields: dict, expected: str) -> None:
    values = {"model": "churn", "name": "errors", "metric": "error_rate", "threshold": 0.05}
    with pytest.raises(InvalidInputError, match=expected):
        AlertRule(**{**values, **fields})


def test_rules_are_stored_replaced_and_deleted(reg: Registry) -> None:
    rule = set_alert(reg, "churn", "errors", metric="error_rate", threshold=0.05, rollback=True)
    assert (rule.id, rule.min_count, rule.created_by, rule.rollback) == (1, 20, "tester", True)
    again = set_alert(reg, "churn", "errors", metric="error_rate", threshold=0.1)
    assert (again.id, again.threshold, again.rollback) == (1, 0.1, False)
    set_alert(reg, "churn", "drift", metric="drift_share", threshold=0.3, window_seconds=3600)
    assert [r.name for r in alerts(reg, "churn")] == ["drift", "errors"]
    assert AlertRule.from_dict(again.to_dict()) == again
    with pytest.raises(NotFoundError, match=r"no alert rule 'eror'.*Did you mean 'errors'"):
        delete_alert(reg, "churn", "eror")
    assert delete_alert(reg, "churn", "errors").name == "errors"
    assert [r.name for r in alerts(reg)] == ["drift"]
    with pytest.raises(ModelNotFoundError):
        set_alert(reg, "nope", "x", metric="error_rate", threshold=0.1)


def test_drift_options_are_kept_per_model(reg: Registry) -> None:
    assert drift_options(reg, "churn") == DriftOptions()
    set_drift_options(reg, "churn", {"alpha": 0.01, "features": {"a": 0.3}})
    assert drift_options(reg, "churn") == DriftOptions(alpha=0.01, features={"a": 0.3})
    with pytest.raises(InvalidInputError, match="Unknown drift method 'pis'"):
        set_drift_options(reg, "churn", {"numeric": "pis"})


def test_replicas_take_turns_and_a_breach_is_acted_on_once(reg: Registry) -> None:
    rule = set_alert(
        reg, "churn", "slow", metric="latency_p95_ms", threshold=50, cooldown_seconds=600
    )
    assert rule.id is not None
    now = 1_000_000.0
    assert claim_check(reg.engine, rule.id, now, 30)  # replica A evaluates this round
    assert not claim_check(reg.engine, rule.id, now + 1, 30)  # replica B waits for the next
    assert claim_check(reg.engine, rule.id, now + 30, 30)
    assert claim_fire(reg.engine, rule.id, now, rule.cooldown_seconds)
    assert not claim_fire(reg.engine, rule.id, now + 5, rule.cooldown_seconds)  # cooling down
    assert claim_fire(reg.engine, rule.id, now + 600, rule.cooldown_seconds)
    fired = alerts(reg, "churn")[0].last_fired_at
    assert fired == datetime.fromtimestamp(now + 600, tz=timezone.utc)


def test_a_breach_needs_enough_data_and_names_its_figures() -> None:
    rule = AlertRule("churn", "errors", "error_rate", 0.05, window_seconds=300)
    assert check_rule(rule, 3, 0.5, 19) is None  # 19 requests: not enough to page anyone
    assert check_rule(rule, 3, 0.05, 100) is None  # at the threshold is not above it
    breach = check_rule(rule, 3, 0.25, 100, errors_5xx=25)
    assert breach is not None
    assert breach.reason == (
        "alert 'errors': error_rate 0.25 > 0.05 over the last 300 s (100 requests) on churn:3"
    )
    assert breach.to_dict()["errors_5xx"] == 25


def test_labels_join_predictions_by_request_id() -> None:
    ids = np.array(["a", "b", "b", "c", "d"], dtype=object)
    labels = {"a": 1, "b": [0, 1], "c": [1, 1], "e": 0}  # c's list is the wrong length
    assert label_rows(ids, labels).tolist() == [1, 0, 1, None, None]
    stamps = pd.to_datetime(
        [
            "2025-01-01T00:00",
            "2025-01-01T00:10",
            "2025-01-01T00:10",
            "2025-01-01T01:10",
            "2025-01-01T01:20",
        ],
        utc=True,
    )
    frame = pd.DataFrame({"request_id": ids, "timestamp": stamps, "prediction": [1, 1, 1, 0, 0]})
    edges = [datetime(2025, 1, 1, h, tzinfo=timezone.utc) for h in (0, 1, 2)]
    result = accuracy(frame, labels, task="classification", reference=0.9, edges=edges)
    assert (result.metric, result.labelled, result.value) == ("accuracy", 3, pytest.approx(2 / 3))
    assert result.drop == pytest.approx(0.9 - 2 / 3)
    assert [(w.labelled, w.value) for w in result.windows] == [(3, pytest.approx(2 / 3)), (0, None)]
    mae = accuracy(
        frame.assign(prediction=[1.5, 2, 2, 0, 0]), {"a": "2"}, task="regression", reference=0.25
    )
    assert (mae.metric, mae.value, mae.drop) == ("mae", 0.5, 0.25)  # worse by 0.25


def test_rule_fields_are_the_alert_rule_fields_a_caller_sets() -> None:
    import dataclasses

    from deploykit.monitoring.rules import RULE_FIELDS, AlertRule

    names = [f.name for f in dataclasses.fields(AlertRule)]
    assert names[:2] == ["model", "name"]
    assert tuple(names[2 : 2 + len(RULE_FIELDS)]) == RULE_FIELDS
