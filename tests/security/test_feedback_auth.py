"""Anonymous or forged feedback cannot roll production back (issue 12, point 2).

The attack, against a real ``deploykit serve --workers 2`` on loopback: an
``accuracy_drop`` rule with rollback, 40 predicts, then 40 wrong labels. Sent with
no token, a revoked one, a ``Basic`` header, a viewer token, on request ids the
caller chose or forged, or on ids another model answered, every label is refused
and production stays where it was while the evaluator runs round after round.
The same labels from a deployer token on the server's own ids roll it back, as
before. With anonymous feedback allowed on purpose, the labels are kept and shown,
but no rule acts on them.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.client import Client
from deploykit.errors import ConfigurationError
from deploykit.evaluation import evaluate
from deploykit.monitoring.tables import feedback
from deploykit.registry import Registry
from deploykit.server.auth import ROLES
from deploykit.server.config import ServerConfig
from deploykit.server.request_ids import RequestIds
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]
ALERT_INTERVAL = 0.3


def settings_for(home: Path) -> Settings:
    return Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"}).replace(
        actor="tester"
    )


@dataclass
class Deployment:
    url: str
    admin: Client
    registry: Registry
    X: pd.DataFrame
    http: httpx.Client  # no credentials of its own, as a stranger on the network

    def token(self, role: str, name: str) -> str:
        return self.admin.create_token(role, name=name)

    def predictions(self, model: str, n: int = 40, **headers: str) -> list[tuple[str, int]]:
        """(request id of the answer, prediction) of ``n`` one-row predicts, sent with no token."""
        out = []
        for i in range(n):
            response = self.http.post(
                f"{self.url}/v1/models/{model}/predict",
                json={"inputs": self.X.iloc[2000 + i : 2001 + i].to_numpy().tolist()},
                headers=headers,
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            out.append((answer["request_id"], answer["predictions"][0]))
        return out

    def post_labels(
        self, model: str, labels: list[tuple[str, Any]], authorization: str | None = None
    ) -> list[httpx.Response]:
        """One POST per label, as the attacker did."""
        headers = {"authorization": authorization} if authorization else {}
        return [
            self.http.post(
                f"{self.url}/v1/models/{model}/feedback",
                json={"request_id": request_id, "label": label},
                headers=headers,
            )
            for request_id, label in labels
        ]

    def rollback_rule(self, model: str) -> None:
        self.admin.set_alert(
            model,
            "accuracy",
            metric="accuracy_drop",
            threshold=0.2,
            window_seconds=120,
            min_count=20,
            rollback=True,
        )

    def evaluated_after(self, model: str, moment: float) -> bool:
        """Whether the evaluator has judged the rule, on everything sent, after ``moment``.

        Rounds come every 0.3 s; one that starts 1 s after ``moment`` sees every
        prediction log flushed (0.2 s). Waiting for a round 2.5 s after leaves the
        earlier rounds time to finish acting.
        """
        rule = self.admin.alerts(model)[0]
        with self.registry.engine.connect() as connection:
            lease = connection.execute(
                sa.text("SELECT next_check_at FROM alert_rules WHERE id = :id"), {"id": rule.id}
            ).scalar()
        return lease is not None and lease - ALERT_INTERVAL > moment + 2.5  # lease = start + 0.3

    def feedback_rows(self, model: str) -> list[Any]:
        with self.registry.engine.connect() as connection:
            query = sa.select(feedback).where(feedback.c.model == model).order_by(feedback.c.id)
            return list(connection.execute(query))


def _push_two_versions(registry: Registry, name: str, X: pd.DataFrame, y: np.ndarray) -> None:
    for C in (0.05, 1.0):  # version 2 ends in production, version 1 is where a rollback goes
        model = LogisticRegression(C=C).fit(X[:1500], y[:1500])
        report = evaluate(model, X[1500:2000], y[1500:2000])  # the accuracy a drop is against
        registry.push(model, name, X=X[:1500], evaluation=report, deploy=True)


def _deployment(home: Path, config: ServerConfig) -> Iterator[Deployment]:
    settings = settings_for(home)
    X, y = make_classification(n_samples=3000, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    registry = Registry(settings)
    for name in ("churn", "loan"):
        _push_two_versions(registry, name, frame, y)
    registry.push(LogisticRegression().fit(frame, y), "other", X=frame, deploy=True)
    config = config.replace(
        log_flush_seconds=0.2,
        telemetry_flush_seconds=0.2,
        alert_interval_seconds=ALERT_INTERVAL,
    )
    with LiveServer(settings, config) as server:
        assert server.token is not None
        with Client(server.url, token=server.token) as admin, httpx.Client(timeout=30) as http:
            yield Deployment(server.url, admin, registry, frame, http)
    registry.close()


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """The defaults, as ``deploykit serve --workers 2`` runs them."""
    yield from _deployment(tmp_path_factory.mktemp("team"), ServerConfig(workers=2))


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _wrong(answers: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return [(request_id, 1 - prediction) for request_id, prediction in answers]


def _refused(responses: list[httpx.Response], status: int, message: str) -> None:
    assert len(responses) == 40
    for response in responses:
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"]


def test_anonymous_and_forged_labels_are_refused_and_production_stays(team: Deployment) -> None:
    team.rollback_rule("churn")
    answers = team.predictions("churn")
    wrong = _wrong(answers)

    _refused(team.post_labels("churn", wrong), 401, "needs a token with the 'deployer' role")
    revoked = team.token("deployer", "leaked")
    [leaked] = [t["id"] for t in team.admin.tokens() if t["name"] == "leaked"]
    team.admin.revoke_token(leaked)
    _refused(team.post_labels("churn", wrong, f"Bearer {revoked}"), 401, "unknown or revoked")
    basic = "Basic " + base64.b64encode(b"admin:admin").decode()
    _refused(team.post_labels("churn", wrong, basic), 401, "must read 'Bearer <token>'")
    _refused(team.post_labels("churn", wrong, "Bearer"), 401, "no token after 'Bearer'")
    viewer = team.token("viewer", "dashboard")
    _refused(
        team.post_labels("churn", wrong, f"Bearer {viewer}"),
        403,
        "needs the 'deployer' role; the token sent ('dashboard') has the 'viewer' role",
    )

    # A labeller with a proper token still cannot pick the ids labels land on.
    labeller = f"Bearer {team.token('deployer', 'labeller')}"
    chosen = team.predictions("churn", **{"x-request-id": "victim-7"})
    assert {request_id for request_id, _ in chosen} != {"victim-7"}  # the server's own id
    _refused(
        team.post_labels("churn", [("victim-7", 1)] * 40, labeller),
        422,
        "the field 'request_id' must be the 'request_id' of a predict answer of model 'churn'",
    )
    forged = [(f"{secrets.token_hex(8)}.{secrets.token_hex(16)}", 1) for _ in range(40)]
    _refused(team.post_labels("churn", forged, labeller), 422, "issued for another model")
    tampered = [(rid[:-1] + ("0" if rid[-1] != "0" else "1"), y) for rid, y in wrong]
    _refused(team.post_labels("churn", tampered, labeller), 422, "'request_id'")
    foreign = _wrong(team.predictions("other"))
    _refused(
        team.post_labels("churn", foreign, labeller),
        422,
        "issued for another model or by another deploykit registry, not for 'churn'",
    )
    # ... and a batch is all or nothing: one bad id refuses the lot.
    batch = [{"request_id": rid, "label": y} for rid, y in wrong[:39] + foreign[:1]]
    response = team.http.post(
        f"{team.url}/v1/models/churn/feedback",
        json={"feedback": batch},
        headers={"authorization": labeller},
    )
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("Feedback item 39: the field")

    done = time.time()
    assert eventually(lambda: team.evaluated_after("churn", done)), "the evaluator never ran"
    assert team.feedback_rows("churn") == []
    assert team.admin.events("churn", action="alert") == []
    assert team.admin.model("churn").production == 2
    answer = team.http.post(f"{team.url}/v1/models/churn/predict", json={"inputs": [[0.0] * 5]})
    assert answer.json()["version"] == 2  # and version 2 still answers


def test_labels_from_a_deployer_on_the_servers_ids_still_roll_back(team: Deployment) -> None:
    team.rollback_rule("loan")
    answers = team.predictions("loan")
    labeller = f"Bearer {team.token('deployer', 'labelling-job')}"
    accepted = team.post_labels("loan", _wrong(answers), labeller)
    assert {r.status_code for r in accepted} == {200}
    assert accepted[0].json() == {"model": "loan", "recorded": 1, "authenticated": True}

    rolled = eventually(lambda: team.admin.events("loan", action="auto-rollback"))
    assert len(rolled) == 1
    assert (rolled[0].from_version, rolled[0].to_version, rolled[0].actor) == (
        2,
        1,
        "deploykit-monitor",
    )
    [alert] = team.admin.events("loan", action="alert")
    assert alert.details["metric"] == "accuracy_drop"
    assert alert.details["live"] == 0.0
    assert alert.details["count"] >= 20
    assert team.admin.model("loan").production == 1
    rows = team.feedback_rows("loan")
    assert len(rows) == 40
    assert {(row.actor, row.authenticated) for row in rows} == {("labelling-job", True)}
    # The client takes the Prediction itself, and labels a whole request's rows.
    answer = team.admin.predict("loan", team.X.iloc[:3])
    assert team.admin.feedback("loan", answer, [0, 1, 0])["recorded"] == 1


@pytest.fixture(scope="module")
def single_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """Anonymous feedback allowed on purpose; viewer tokens are trusted labellers here."""
    config = ServerConfig(feedback_requires_token=False, feedback_role="viewer")
    yield from _deployment(tmp_path_factory.mktemp("single-user"), config)


def test_anonymous_labels_when_allowed_are_shown_but_never_acted_on(
    single_user: Deployment,
) -> None:
    world = single_user
    world.rollback_rule("churn")
    answers = world.predictions("churn")
    wrong = _wrong(answers)
    accepted = world.post_labels("churn", wrong)
    assert {r.status_code for r in accepted} == {200}
    assert accepted[0].json() == {"model": "churn", "recorded": 1, "authenticated": False}
    # Open mode still checks whatever credentials come, and still only takes its own ids.
    basic = "Basic " + base64.b64encode(b"me:secret").decode()
    assert world.post_labels("churn", wrong[:1], basic)[0].status_code == 401
    assert world.post_labels("churn", wrong[:1], "Bearer dk_guess")[0].status_code == 401
    assert world.post_labels("churn", [("mine-1", 0)])[0].status_code == 422

    done = time.time()
    assert eventually(lambda: world.evaluated_after("churn", done)), "the evaluator never ran"
    assert world.admin.events("churn", action="alert") == []
    assert world.admin.model("churn").production == 2
    accuracy = world.admin.drift("churn").accuracy  # the drift view shows them all
    assert accuracy is not None
    assert (accuracy.labelled, accuracy.value) == (40, 0.0)
    rows = world.feedback_rows("churn")
    assert {(row.actor, row.authenticated) for row in rows} == {("anonymous", False)}

    # The same labels from a token of the feedback role (viewer, here) are evidence.
    viewer = f"Bearer {world.token('viewer', 'me')}"
    assert {r.status_code for r in world.post_labels("churn", wrong, viewer)} == {200}
    rolled = eventually(lambda: world.admin.events("churn", action="auto-rollback"))
    assert [(e.from_version, e.to_version) for e in rolled] == [(2, 1)]


def test_request_ids_are_signed_per_model_and_per_registry(tmp_path: Path) -> None:
    with (
        Registry(settings_for(tmp_path / "a")) as a,
        Registry(settings_for(tmp_path / "b")) as b,
    ):
        ids, replica, stranger = RequestIds(a.engine), RequestIds(a.engine), RequestIds(b.engine)
        issued = ids.issue("churn")
        assert len(issued) == 49
        assert replica.verify("churn", issued)  # another replica on the same registry agrees
        assert not replica.verify("loan", issued)
        assert not stranger.verify("churn", issued)
        assert not ids.verify("churn", issued.upper())
        assert not ids.verify("churn", issued + "0")
        assert ids.issue("churn") != issued


def test_feedback_settings_fail_fast_and_name_the_variable() -> None:
    assert ServerConfig().feedback_requires_token is True
    assert ServerConfig().feedback_role == "deployer"
    env = {
        "DEPLOYKIT_SERVE_FEEDBACK_REQUIRES_TOKEN": "0",
        "DEPLOYKIT_SERVE_FEEDBACK_ROLE": "viewer",
    }
    config = ServerConfig.from_env(env)
    assert (config.feedback_requires_token, config.feedback_role) == (False, "viewer")
    with pytest.raises(ConfigurationError, match=r"DEPLOYKIT_SERVE_FEEDBACK_ROLE.*Got 'boss'"):
        ServerConfig.from_env({"DEPLOYKIT_SERVE_FEEDBACK_ROLE": "boss"})
    for role in ROLES:  # the config's copy of the roles keeps up with auth's
        assert ServerConfig(feedback_role=role).feedback_role == role


def test_labels_stored_before_the_upgrade_are_not_evidence(tmp_path: Path) -> None:
    from alembic import command

    from deploykit.registry.database import create_engine
    from deploykit.registry.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0004")
        connection.exec_driver_sql(
            "INSERT INTO feedback (model, request_id, label, at, actor) "
            "VALUES ('churn', 'r-1', '1', '2026-01-01 00:00:00', 'ci token')"
        )
    engine.dispose()
    with Registry(database_url=url, home=tmp_path) as reg:
        with reg.engine.connect() as connection:
            [row] = connection.execute(sa.select(feedback))
        assert (row.actor, row.authenticated) == ("ci token", False)
        assert len(RequestIds(reg.engine).issue("churn")) == 49  # the new table is there
