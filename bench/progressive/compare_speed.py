"""Compare speed: 1,000,000 logged shadow pairs (two versions, 10 features) compared.

Builds a prediction log the way the server writes it (two rows per request id, one per
version, shuffled), then times pair_rows (pairing by request id and row) and
compare_predictions (agreement, cross-table, disagreement by the reference profile's
bins, examples), both in deploykit.monitoring.compare.

    PYTHONPATH=. python bench/progressive/compare_speed.py [--pairs 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from deploykit.monitoring.compare import compare_predictions, pair_rows
from deploykit.monitoring.profile import ReferenceProfile


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.pairs
    rng = np.random.default_rng(0)
    features = pd.DataFrame(rng.normal(size=(n, 10)), columns=[f"f{i}" for i in range(10)])
    profile = ReferenceProfile.from_data(features.sample(20_000, random_state=0))
    a = rng.integers(0, 3, n)
    b = np.where(rng.random(n) < 0.93, a, rng.integers(0, 3, n))
    # shaped like the server's request ids: a hex nonce, a dot, a hex MAC
    nonce = rng.integers(0, 2**63, size=(n, 2)).astype(np.uint64)
    ids = np.array([f"{x:016x}{y:016x}.{x ^ y:016x}{x:016x}" for x, y in nonce], dtype=object)
    order = rng.permutation(2 * n)
    log = pd.DataFrame(
        {
            "request_id": np.concatenate([ids, ids])[order],
            "version": np.repeat([1, 2], n)[order],
            "prediction": np.concatenate([a, b])[order],
        }
    )
    inputs = pd.concat([features, features], ignore_index=True).iloc[order].reset_index(drop=True)
    t0 = time.perf_counter()
    i_a, i_b = pair_rows(log, 1, 2)
    t1 = time.perf_counter()
    predictions = log["prediction"].to_numpy()
    out = compare_predictions(
        predictions[i_a],
        predictions[i_b],
        inputs=inputs,
        profile=profile,
        request_ids=log["request_id"],
        rows=i_a,
    )
    t2 = time.perf_counter()
    assert out["pairs"] == n
    print(
        f"{n:,} pairs: pairing {t1 - t0:.2f} s + comparing {t2 - t1:.2f} s = {t2 - t0:.2f} s; "
        f"agreement {out['agreement']:.4f}; worst bin {out['disagreement'][0]}"
    )


if __name__ == "__main__":
    main()
