"""The schemathesis CLI, every phase (examples, coverage, fuzzing, stateful), against a
real server with an admin token: a longer exploration than the CI test.

    python bench/security/fuzz.py                          # default checks, 100 examples
    python bench/security/fuzz.py --max-examples 300 -- --checks all

Arguments after ``--`` go to ``schemathesis run`` as they are. The server serves two
versions of ``churn`` (production) and an undeployed ``draft``; the run's admin token
is its own, so a fuzzed revocation can only hit tokens the run created... or its own
(then the rest of the run gets 401s, which the summary makes plain).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pandas as pd
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.testing import LiveServer
from deploykit.settings import Settings

COLUMNS = ["age", "tenure", "calls", "spend", "visits"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("extra", nargs="*", help="more schemathesis run arguments")
    args = parser.parse_args()
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    frame = pd.DataFrame(X, columns=COLUMNS)
    home = Path(tempfile.mkdtemp(prefix="dk-fuzz-"))
    try:
        settings = Settings.from_env({"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "0"})
        with Registry(settings) as registry:
            model = LogisticRegression().fit(frame, y)
            registry.push(model, "churn", X=frame, deploy=True)
            registry.push(LogisticRegression(C=0.1).fit(frame, y), "churn", X=frame, deploy=True)
            registry.push(model, "draft", X=frame)
        with LiveServer(settings, ServerConfig(max_body_bytes=256 * 1024)) as server:
            token = httpx.post(
                f"{server.url}/v1/tokens",
                json={"role": "admin", "name": "fuzzer"},
                headers={"authorization": f"Bearer {server.token}"},
            ).json()["token"]
            command = [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{server.url}/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                str(args.max_examples),
                "--seed",
                str(args.seed),
                "--exclude-operation-id",
                "revokeToken",  # its own token: tests/security covers revocation with a guard
                "--suppress-health-check",
                "all",
                *args.extra,
            ]
            print(
                "$",
                " ".join(c if "Bearer" not in c else "Authorization: Bearer …" for c in command),
            )
            code = subprocess.call(command, cwd=home)  # its .schemathesis cache goes there
            errors = [line for line in server.logs().splitlines() if "ERROR" in line]
            print(f"server log: {len(errors)} ERROR line(s)")
            for line in errors[:20]:
                print("  ", line)
        raise SystemExit(code)
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
