"""A live deploykit server (HTTP + gRPC) and the clients other serving stacks ship.

The clients (tritonclient, the kserve SDK, MLflow's scoring client) live in
``.venv-protocols``, built once by ``scripts/protocols-venv`` from the registries: their
pins (protobuf among them) clash with deploykit's own environment. Each test runs a
short script in that venv against the server on loopback and reads back JSON.

Models: ``churn`` (LogisticRegression on four float columns; version 2 is production,
version 1 has no alias) and ``plans`` (a pipeline with a string column, string classes).
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer, free_port
from deploykit.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ["age", "tenure", "calls", "spend"]


@dataclass
class Protocols:
    url: str
    grpc: str  # host:port
    admin: str
    viewer: str
    X: pd.DataFrame
    plans: pd.DataFrame
    churn: Any  # production (version 2)
    churn_v1: Any
    plans_model: Any
    python: str  # the clients' venv

    def run(self, script: str, **values: Any) -> Any:
        """Run ``script`` in the clients' venv; it gets ``ARGS`` (``values``) and prints JSON."""
        code = "import json, sys\nARGS = json.loads(sys.argv[1])\n" + textwrap.dedent(script)
        done = subprocess.run(
            [self.python, "-c", code, json.dumps({"url": self.url, "grpc": self.grpc, **values})],
            capture_output=True,
            text=True,
            timeout=180,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def clients_python() -> str:
    done = subprocess.run(
        [str(ROOT / "scripts" / "protocols-venv")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"scripts/protocols-venv failed:\n{done.stderr[-4000:]}"
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory, clients_python: str) -> Iterator[Protocols]:
    X, y = make_classification(n_samples=300, n_features=4, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    rng = np.random.default_rng(0)
    plans = pd.DataFrame(
        {"plan": rng.choice(["basic", "pro", "team"], 300), "spend": rng.normal(50, 10, 300)}
    )
    labels = np.where((plans["plan"] == "pro") | (plans["spend"] > 55), "yes", "no")
    plans_model = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LogisticRegression(),
    ).fit(plans, labels)
    churn_v1 = LogisticRegression(C=0.01).fit(frame, y)
    churn = LogisticRegression().fit(frame, y)
    home = tmp_path_factory.mktemp("protocols-home")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
    with Registry(settings.replace(actor="tester")) as registry:
        registry.push(churn_v1, "churn", X=frame, deploy=True)
        registry.push(churn, "churn", X=frame, deploy=True)
        registry.push(plans_model, "plans", X=plans, deploy=True)
    grpc_port = free_port()
    config = ServerConfig(model="churn", grpc_port=grpc_port, log_flush_seconds=0.5)
    with LiveServer(settings, config) as live:
        assert live.token is not None
        viewer = httpx.post(
            f"{live.url}/v1/tokens",
            json={"role": "viewer", "name": "reader"},
            headers={"authorization": f"Bearer {live.token}"},
        ).json()["token"]
        yield Protocols(
            live.url,
            f"127.0.0.1:{grpc_port}",
            live.token,
            viewer,
            frame,
            plans,
            churn,
            churn_v1,
            plans_model,
            clients_python,
        )
