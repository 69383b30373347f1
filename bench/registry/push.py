"""Push of a ~100 MB model against a plain joblib.dump of it to the same disk.

    python bench/registry/push.py            # ~100 MB model, 3 interleaved rounds
    python bench/registry/push.py --quick    # ~20 MB, 1 round

Each timed run starts after os.sync(), so none pays for another's dirty pages.
Prints, per configuration, the median seconds of: joblib.dump to a file (the
baseline, no fsync), joblib.dump + fsync, Registry.push (fsync on and off), and a
second push of the identical model (deduplicated). Ratios are push / joblib.dump.
The model is a KNeighborsClassifier(algorithm="brute"), whose fitted state is its
training matrix, so its size is exactly what we ask for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from deploykit.registry import Registry
from deploykit.settings import Settings


def make_model(megabytes: int, seed: int) -> KNeighborsClassifier:
    rows = megabytes * (1 << 20) // (20 * 8)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 20))
    y = rng.integers(0, 2, size=rows)
    return KNeighborsClassifier(algorithm="brute").fit(X, y)


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    # Every run starts with no dirty pages: after ~100 MB of writes the kernel throttles
    # writers to disk speed, so without this whichever run came second would pay for the
    # first one's bytes (5-10x on this machine), whatever it is.
    os.sync()
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def dump(model: object, path: Path, *, fsync: bool) -> None:
    with open(path, "wb") as f:
        joblib.dump(model, f)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="disk to write to (default: tmp)")
    parser.add_argument("--quick", action="store_true", help="20 MB, one round")
    args = parser.parse_args()
    if args.quick:
        args.megabytes, args.rounds = 20, 1

    model = make_model(args.megabytes, seed=0)
    base = Path(tempfile.mkdtemp(prefix="dk-bench-push-", dir=args.dir))
    figures: dict[str, list[float]] = {}
    size = 0
    try:
        for r in range(args.rounds):
            round_dir = base / f"round{r}"
            round_dir.mkdir()
            figures.setdefault("joblib.dump", []).append(
                timed(dump, model, round_dir / "plain.joblib", fsync=False)
            )
            figures.setdefault("joblib.dump + fsync", []).append(
                timed(dump, model, round_dir / "synced.joblib", fsync=True)
            )
            size = (round_dir / "plain.joblib").stat().st_size
            for fsync in (True, False):
                home = round_dir / f"home-fsync{int(fsync)}"
                env = {"DEPLOYKIT_HOME": str(home), "DEPLOYKIT_FSYNC": "1" if fsync else "0"}
                reg = Registry(Settings.from_env(env), actor="bench")
                reg.push(make_model(1, seed=1), "warmup")  # imports, schema, store opened
                label = f"push (fsync={'on' if fsync else 'off'})"
                figures.setdefault(label, []).append(timed(reg.push, model, "big"))
                figures.setdefault(f"identical push again ({label[6:-1]})", []).append(
                    timed(reg.push, model, "big")
                )
                reg.close()
            shutil.rmtree(round_dir)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    baseline = statistics.median(figures["joblib.dump"])
    print(f"model: {size / 1e6:.1f} MB on disk, {args.rounds} round(s), medians")
    for label, values in figures.items():
        median = statistics.median(values)
        print(f"{label:34s} {median:7.3f} s   ratio {median / baseline:5.2f}")
    push_off = statistics.median(figures["push (fsync=off)"])
    push_on = statistics.median(figures["push (fsync=on)"])
    synced = statistics.median(figures["joblib.dump + fsync"])
    print(f"RATIO push/joblib.dump (both without fsync): {push_off / baseline:.2f}")
    print(f"RATIO push/joblib.dump+fsync (both durable):  {push_on / synced:.2f}")


if __name__ == "__main__":
    main()
