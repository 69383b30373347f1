"""Evidently's side of the quality benchmark; runs in bench/.venv-evidently.

    python evidently_side.py '{"plan": [[n, scenario, index], ...]}'

Prints one JSON line per window: the columns DataDriftPreset's defaults flag.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data import window

warnings.filterwarnings("ignore")


def flagged(snapshot: object) -> tuple[list[str], bool]:
    columns = []
    dataset = False
    for metric in snapshot.dict()["metrics"]:  # type: ignore[attr-defined]
        config = metric["config"]
        kind = config["type"]
        if kind.endswith("DriftedColumnsCount"):
            dataset = metric["value"]["share"] >= config["drift_share"]
        elif kind.endswith("ValueDrift"):
            score, threshold = metric["value"], config["threshold"]
            p_value = "p_value" in config["method"]
            if (score < threshold) if p_value else (score >= threshold):
                columns.append(config["column"])
    return columns, dataset


def main() -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    plan = json.loads(sys.argv[1])["plan"]
    for n, scenario, index in plan:
        reference, current, _ = window(n, scenario, index)
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        seconds = time.perf_counter() - start
        columns, dataset = flagged(snapshot)
        line = {"n": n, "scenario": scenario, "index": index, "flagged": columns}
        print(json.dumps({**line, "dataset_drift": dataset, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
