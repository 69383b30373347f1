"""Drift quality: false alarms and detection on synthetic windows with known truth.

    .venv/bin/python bench/drift_quality/run.py            # full: ours and Evidently (~30 min)
    .venv/bin/python bench/drift_quality/run.py --quick    # smoke: ours only, n <= 10k (< 1 min)

For each window size n in {100, 1k, 10k, 100k, 1M}: a fresh reference of 10,000 rows
(ten features, see data.py) and a current window of n rows, either from the same
distribution ("none"), or with a mean shift of 0.25 reference std in one numeric
feature ("shift", each feature in turn), or of 0.02 std ("harmless", n >= 10k).
deploykit judges each window with its defaults (check_drift on the reference's
profile); Evidently 0.7.23 with DataDriftPreset's defaults, in its own venv, on the
same windows. Targets: "none" windows flagged (any feature) <= 1% at every n; the
shifted feature flagged in >= 95% of "shift" windows for n >= 1,000.
Writes bench/results/drift_quality.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import evidently_env  # noqa: E402
from data import window  # noqa: E402

from deploykit.monitoring import ReferenceProfile, check_drift  # noqa: E402

SIZES = [100, 1_000, 10_000, 100_000, 1_000_000]
# windows per (n, scenario): ours / Evidently (whose report takes ~2 s at any n, ~30 s at 1M)
OURS = {100: 1000, 1_000: 1000, 10_000: 400, 100_000: 200, 1_000_000: 100}
THEIRS = {100: 50, 1_000: 50, 10_000: 50, 100_000: 20, 1_000_000: 5}
QUICK = {100: 100, 1_000: 100, 10_000: 30}


def scenarios(n: int) -> list[str]:
    return ["none", "shift"] + (["harmless"] if n >= 10_000 else [])


def run_ours(n: int, scenario: str, count: int) -> list[dict]:
    out = []
    for index in range(count):
        reference, current, shifted = window(n, scenario, index)
        profile = ReferenceProfile.from_data(reference)
        start = time.perf_counter()
        report = check_drift(profile, current)
        seconds = time.perf_counter() - start
        out.append(
            {
                "n": n,
                "scenario": scenario,
                "index": index,
                "shifted": shifted,
                "flagged": list(report.drifted_features),
                "seconds": seconds,
            }
        )
    return out


def run_evidently(plan: list[tuple[int, str, int]]) -> list[dict]:
    python = evidently_env.python()
    proc = subprocess.run(
        [str(python), str(HERE / "evidently_side.py"), json.dumps({"plan": plan})],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row["shifted"] = window_shift(row["scenario"], row["index"])
    return rows


def window_shift(scenario: str, index: int) -> str | None:
    from data import NUMERIC

    return NUMERIC[index % len(NUMERIC)] if scenario in ("shift", "harmless") else None


def summarise(rows: list[dict]) -> dict[tuple[int, str], dict]:
    out: dict[tuple[int, str], dict] = {}
    for row in rows:
        cell = out.setdefault(
            (row["n"], row["scenario"]), {"windows": 0, "any": 0, "hit": 0, "other": 0, "s": 0.0}
        )
        cell["windows"] += 1
        cell["s"] += row["seconds"]
        flagged = set(row["flagged"])
        cell["any"] += bool(flagged)
        if row["shifted"]:
            cell["hit"] += row["shifted"] in flagged
            cell["other"] += bool(flagged - {row["shifted"]})
    return out


def pct(k: int, total: int) -> str:
    return f"{100 * k / total:.1f}% ({k}/{total})" if total else "—"


def table(ours: dict, theirs: dict, sizes: list[int]) -> str:
    lines = [
        "| n | no shift: windows flagged, deploykit | Evidently "
        "| 0.25 std shift caught, deploykit | Evidently "
        "| other features flagged in shift windows, deploykit | Evidently "
        "| 0.02 std shift flagged, deploykit | Evidently | s/window deploykit | Evidently |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n in sizes:

        def cell(data: dict, scenario: str, key: str, n: int = n) -> str:
            c = data.get((n, scenario))
            return pct(c[key], c["windows"]) if c else "—"

        def speed(data: dict, n: int = n) -> str:
            c = data.get((n, "none"))
            return f"{c['s'] / c['windows']:.3f}" if c else "—"

        lines.append(
            f"| {n:,} | {cell(ours, 'none', 'any')} | {cell(theirs, 'none', 'any')} "
            f"| {cell(ours, 'shift', 'hit')} | {cell(theirs, 'shift', 'hit')} "
            f"| {cell(ours, 'shift', 'other')} | {cell(theirs, 'shift', 'other')} "
            f"| {cell(ours, 'harmless', 'hit')} | {cell(theirs, 'harmless', 'hit')} "
            f"| {speed(ours)} | {speed(theirs)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="n <= 10k, fewer windows, ours only")
    parser.add_argument("--evidently", action="store_true", help="with --quick, run Evidently too")
    parser.add_argument("--skip-evidently", action="store_true")
    args = parser.parse_args()
    ours_plan = QUICK if args.quick else OURS
    with_evidently = (args.evidently or not args.quick) and not args.skip_evidently
    sizes = [n for n in SIZES if n in ours_plan]
    ours_rows: list[dict] = []
    for n in sizes:
        for scenario in scenarios(n):
            count = ours_plan[n] if scenario != "harmless" else min(ours_plan[n], 100)
            ours_rows += run_ours(n, scenario, count)
            print(f"deploykit n={n:>9,} {scenario:8s} done", file=sys.stderr, flush=True)
    theirs_rows: list[dict] = []
    if with_evidently:
        theirs_plan = {n: min(THEIRS[n], ours_plan[n]) for n in sizes}
        for n in sizes:
            plan = [(n, s, i) for s in scenarios(n) for i in range(theirs_plan[n])]
            theirs_rows += run_evidently(plan)
            print(f"Evidently n={n:>9,} done", file=sys.stderr, flush=True)
    ours, theirs = summarise(ours_rows), summarise(theirs_rows)
    print(table(ours, theirs, sizes))
    failures = []
    for n in sizes:
        none = ours[(n, "none")]
        if none["any"] > 0.01 * none["windows"]:
            failures.append(f"n={n}: {pct(none['any'], none['windows'])} no-shift windows flagged")
        shift = ours[(n, "shift")]
        if n >= 1000 and shift["hit"] < 0.95 * shift["windows"]:
            failures.append(f"n={n}: only {pct(shift['hit'], shift['windows'])} shifts caught")
    print("\ntargets: " + ("met" if not failures else "MISSED: " + "; ".join(failures)))
    results = HERE.parent / "results"
    results.mkdir(exist_ok=True)
    name = "drift_quality_quick.json" if args.quick else "drift_quality.json"
    (results / name).write_text(
        json.dumps(
            {
                "evidently": evidently_env.version() if with_evidently else None,
                "deploykit": {f"{n}/{s}": v for (n, s), v in ours.items()},
                "evidently_results": {f"{n}/{s}": v for (n, s), v in theirs.items()},
            },
            indent=1,
        )
    )
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
