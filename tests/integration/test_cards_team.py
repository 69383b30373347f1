"""Cards on PostgreSQL + S3: the lineage and first revision commit with the push,
amendments are revisions and events, and the card reads back the same through a server."""

from __future__ import annotations

import warnings

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.client import Client
from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from tests.integration.conftest import Team

pytestmark = pytest.mark.integration


def test_cards_on_postgres_and_s3(team: Team) -> None:
    X, y = make_classification(n_samples=120, n_features=4, random_state=0)
    with Registry(team.settings) as reg:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg.push(LogisticRegression().fit(X, y), "churn", X=X, card={"owners": "ana"})
        revision = reg.amend_card("churn", 1, {"limitations": "synthetic data"}, reason="pg")
        assert revision.revision == 2
        assert reg.events("churn", action="card")[0].details["revision"] == 2
        lineage = reg.lineage("churn", 1)
        assert lineage is not None
        assert lineage["lineage"]["lock"]["scikit-learn"]
        assert len(lineage["reference"]["rows"]) == 25
        card = reg.card("churn", 1)
        assert "**Limitations.** synthetic data" in card
        assert "card revision 2" in card
        assert "**Owners.** ana" in reg.card("churn", 1, revision=1)
        with (
            LiveServer(team.settings, ServerConfig()) as server,
            Client(server.url, token=server.token) as client,
        ):
            assert client.card("churn", 1) == card
            assert client.lineage("churn", 1) == lineage
