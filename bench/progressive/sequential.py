"""Promote on evidence, simulated: does peeking inflate false promotions?

A canary sends 10% of traffic to the candidate; labels arrive for every request; the
policy is ``accuracy>=production-0.01`` (min_requests 1,000). Production's accuracy is
0.90. The judge looks every 200 candidate requests (every few seconds in a server), up
to 100,000 candidate requests.

- worse by the margin (candidate 0.89): any promotion is a false one. The always-valid
  confidence sequence (deploykit.monitoring.sequential) should promote in <= 5% of runs;
  a fixed-sample z-test read at every look is shown beside it for contrast.
- better (candidate 0.92) and equal (0.90): how many candidate requests until promotion.

Uses the library's own vectorized bounds (difference_bounds), so what is measured is what
the server runs.

    PYTHONPATH=. python bench/progressive/sequential.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import norm

from deploykit.monitoring.sequential import difference_bounds

P_PRODUCTION = 0.90
MARGIN = 0.01
SHARE = 0.10
LOOK_EVERY = 200
MAX_CANDIDATE = 100_000
MIN_REQUESTS = 1_000
ALPHA = 0.05


def simulate(p_candidate: float, runs: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    looks = MAX_CANDIDATE // LOOK_EVERY
    per_look_p = int(LOOK_EVERY * (1 - SHARE) / SHARE)
    xc = rng.binomial(LOOK_EVERY, p_candidate, size=(runs, looks)).cumsum(axis=1)
    xp = rng.binomial(per_look_p, P_PRODUCTION, size=(runs, looks)).cumsum(axis=1)
    nc = np.arange(1, looks + 1) * LOOK_EVERY
    n_p = np.arange(1, looks + 1) * per_look_p
    d, low, high = difference_bounds(xc, nc, xp, n_p, alpha=ALPHA, t_star=MIN_REQUESTS)
    ready = nc >= MIN_REQUESTS
    promote = (low >= -MARGIN) & ready
    abort = high < -MARGIN
    # the first decision ends a run
    first_promote = np.where(promote.any(axis=1), promote.argmax(axis=1), looks)
    first_abort = np.where(abort.any(axis=1), abort.argmax(axis=1), looks)
    promoted = first_promote < first_abort
    aborted = first_abort < first_promote
    # naive: a one-sided z-test at 5%, read at every look
    se = np.sqrt((xc / nc) * (1 - xc / nc) / nc + (xp / n_p) * (1 - xp / n_p) / n_p)
    naive = ((d - norm.ppf(1 - ALPHA) * se) >= -MARGIN) & ready
    needed = (first_promote[promoted] + 1) * LOOK_EVERY
    return {
        "p_candidate": p_candidate,
        "promoted": float(promoted.mean()),
        "aborted": float(aborted.mean()),
        "undecided": float(1 - promoted.mean() - aborted.mean()),
        "naive_peeking_promoted": float(naive.any(axis=1).mean()),
        "median_requests_to_promote": float(np.median(needed)) if len(needed) else None,
        "p90_requests_to_promote": float(np.percentile(needed, 90)) if len(needed) else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    start = time.perf_counter()
    print(
        f"policy accuracy>=production-{MARGIN}, production {P_PRODUCTION}, canary {SHARE:.0%}, "
        f"look every {LOOK_EVERY} candidate requests, min_requests {MIN_REQUESTS}, "
        f"up to {MAX_CANDIDATE:,}, alpha {ALPHA}, {args.runs} runs each"
    )
    for p, seed in ((P_PRODUCTION - MARGIN, 1), (P_PRODUCTION, 2), (P_PRODUCTION + 0.02, 3)):
        r = simulate(p, args.runs, seed)
        print(
            f"candidate {p:.2f}: promoted {r['promoted']:.2%} aborted {r['aborted']:.2%} "
            f"undecided {r['undecided']:.2%} | naive z-test peeking promoted "
            f"{r['naive_peeking_promoted']:.2%} | candidate requests to promote: median "
            f"{r['median_requests_to_promote']}, p90 {r['p90_requests_to_promote']}"
        )
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
