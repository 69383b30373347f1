"""What verifying the target's artifact costs a deploy, on a ~100 MB model.

    python bench/registry/deploy.py              # ~100 MB, 7 rounds
    python bench/registry/deploy.py --mb 20 --rounds 3
    python bench/registry/deploy.py --s3 s3://bucket/prefix   # the store on S3 (AWS_* env,
                                                              # DEPLOYKIT_S3_ENDPOINT_URL)

Times ``Registry.deploy`` (which rehashes the target's stored bytes before moving the
alias), the bare alias move it wraps (``MetadataStore.deploy``, no check), and a
plain sha256 of the artifact file, alternating between two versions so every round
really moves the alias. Prints medians in milliseconds. The file is in the page cache
(it was just written), as it is for a deploy shortly after a push; a cold cache adds
the disk's read time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.neighbors import KNeighborsClassifier

from deploykit.registry import Registry
from deploykit.settings import Settings


def make_model(megabytes: int, seed: int) -> KNeighborsClassifier:
    rows = megabytes * (1 << 20) // (20 * 8)
    rng = np.random.default_rng(seed)
    return KNeighborsClassifier(algorithm="brute").fit(
        rng.normal(size=(rows, 20)), rng.integers(0, 2, size=rows)
    )


def ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def sha256(path: Path) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--s3", help="an s3:// URL for the artifact store (default: local)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"DEPLOYKIT_HOME": tmp, "DEPLOYKIT_FSYNC": "0"}
        if args.s3:
            env["DEPLOYKIT_ARTIFACTS_URL"] = args.s3
            env["DEPLOYKIT_S3_ENDPOINT_URL"] = os.environ.get("DEPLOYKIT_S3_ENDPOINT_URL", "")
        settings = Settings.from_env(env)
        with Registry(settings) as reg, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for seed in (1, 2):
                reg.push(make_model(args.mb, seed), "big")
            size = reg.version("big", 1).size
            path = reg.artifact_path("big", 1)  # remote stores: the verified cached copy
            timings: dict[str, list[float]] = {"verified": [], "bare": [], "sha256": []}
            actor = settings.actor
            for i in range(args.rounds):
                v = 1 + i % 2
                timings["verified"].append(ms(lambda v=v: reg.deploy("big", v)))
                timings["bare"].append(
                    ms(lambda v=v: reg._meta.deploy("big", 3 - v, alias="production", actor=actor))
                )
                timings["sha256"].append(ms(lambda: sha256(path)))
        print(f"artifact {size / 1e6:.1f} MB, {args.rounds} rounds, medians:")
        for key, values in timings.items():
            print(f"  {key:<9} {statistics.median(values):8.1f} ms")


if __name__ == "__main__":
    main()
