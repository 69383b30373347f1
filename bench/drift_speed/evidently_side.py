"""Evidently's side of the speed benchmark; runs in bench/.venv-evidently.

    python evidently_side.py DATA_FOLDER REPEAT

Prints one JSON line: seconds per run, peak memory, the columns flagged.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    folder, repeat = Path(sys.argv[1]), int(sys.argv[2])
    reference = pd.read_parquet(folder / "reference.parquet")
    current = pd.read_parquet(folder / "current.parquet")
    Report([DataDriftPreset()]).run(current.iloc[:1000], reference)  # imports, not timed
    loaded = rss_mb()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        resettable = True
    except OSError:
        resettable = False
    seconds, flagged = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        seconds.append(time.perf_counter() - start)
        flagged = []
        for metric in snapshot.dict()["metrics"]:
            config = metric["config"]
            if config["type"].endswith("ValueDrift"):
                p_value = "p_value" in config["method"]
                score, threshold = metric["value"], config["threshold"]
                if (score < threshold) if p_value else (score >= threshold):
                    flagged.append(config["column"])
    peak = rss_mb("VmHWM") if resettable else float("nan")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "best": min(seconds),
                "working_mb": peak - loaded,
                "loaded_mb": loaded,
                "process_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "flagged": sorted(flagged),
            }
        )
    )


if __name__ == "__main__":
    main()
