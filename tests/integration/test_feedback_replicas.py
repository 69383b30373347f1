"""Signed request ids on PostgreSQL: two hosts that start together agree on the key.

Feedback takes only request ids the server signed for the model (issue 12), so
every replica must sign with the same key, kept in the registry database. Two
servers with homes of their own ("hosts") start at once on a database no
deploykit has migrated yet, racing to make the key; an id one answered is then
labelled through the other.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.monitoring.tables import feedback
from deploykit.server.config import ServerConfig
from deploykit.server.tables import server_secrets
from deploykit.server.testing import LiveServer
from tests.integration.conftest import Team


@pytest.mark.slow
def test_two_hosts_share_the_request_id_key(fresh_team: Team, tmp_path: Path) -> None:
    hosts = [
        LiveServer(fresh_team.settings.replace(home=tmp_path / f"host-{i}"), ServerConfig())
        for i in (1, 2)
    ]
    with ThreadPoolExecutor(2) as pool:  # both migrate, then race to make the key
        list(pool.map(LiveServer.start, hosts))
    try:
        X, y = make_classification(n_samples=200, n_features=4, random_state=0)
        frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
        with fresh_team.registry() as reg:
            reg.push(LogisticRegression().fit(frame, y), "churn", X=frame, deploy=True)
            with reg.engine.connect() as connection:
                keys = connection.execute(sa.select(server_secrets.c.name)).scalars().all()
            assert keys == ["request_ids"]
        one, two = hosts
        for answering, labelling in ((one, two), (two, one)):
            answer = httpx.post(
                f"{answering.url}/v1/models/churn/predict",
                json={"inputs": frame.iloc[:2].to_numpy().tolist()},
            )
            assert answer.status_code == 200, answer.text
            labelled = httpx.post(
                f"{labelling.url}/v1/models/churn/feedback",
                json={"request_id": answer.json()["request_id"], "label": [0, 1]},
                headers={"authorization": f"Bearer {labelling.token}"},
            )
            assert labelled.status_code == 200, labelled.text
            assert labelled.json()["authenticated"] is True
        with fresh_team.registry() as reg, reg.engine.connect() as connection:
            rows = connection.execute(sa.select(feedback.c.actor, feedback.c.authenticated)).all()
        assert [tuple(r) for r in rows] == [("local admin", True)] * 2
    finally:
        for host in hosts:
            host.stop()
