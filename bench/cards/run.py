"""What a model card costs: generating it at push, reading it back, Markdown and HTML.

    .venv/bin/python bench/cards/run.py [--rounds 50]

A version with 30 features (a DataFrame of 5,000 rows), evaluated beside the baseline and
production, gated, with a card= mapping: the card a real push writes. Timed:

- ``render_card``: the Markdown written at push (pure: records in, text out);
- ``lineage``: capture_lineage() in this process (git subprocesses, the lock);
- ``amend_card``: a new revision, rendered again and written with its event;
- ``card()`` Markdown / HTML: what a reader waits for (stored revision + history + HTML).

Target (issue 19): card generation <= 200 ms for a 30-feature version.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import deploykit
from deploykit.cards import lineage as lineage_module
from deploykit.cards.html import to_html
from deploykit.cards.render import render_card
from deploykit.registry import Registry


def timed(fn: Callable[[], Any], rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(5000, 30)), columns=[f"f{i}" for i in range(30)])
    y = (X.f0 + X.f1 + rng.normal(scale=0.5, size=5000) > 0).astype(int)
    model = LogisticRegression(max_iter=500).fit(X, y)
    rows = []
    with tempfile.TemporaryDirectory() as home, Registry(home=home) as reg:
        first = deploykit.evaluate(model, X, y, against=reg, name="churn")
        reg.push(model, "churn", X=X, evaluation=first, deploy=True)
        report = deploykit.evaluate(model, X, y, against=reg, name="churn", gate="accuracy>=0.7")
        card = {"intended_use": "retention offers", "limitations": "monthly plans", "owners": "ana"}
        v = reg.push(model, "churn", X=X, evaluation=report, card=card)
        stored = reg.lineage("churn", v.version)
        profile = reg._meta.profile("churn", v.version)
        md = render_card(
            v,
            fields=card,
            lineage=stored["lineage"],
            profile=profile,
            revision=1,
            revised_at=v.created_at,
            revised_by="ana",
        )

        def render() -> None:
            render_card(
                v,
                fields=card,
                lineage=stored["lineage"],
                profile=profile,
                revision=1,
                revised_at=v.created_at,
                revised_by="ana",
            )

        rows.append(("render_card (Markdown at push)", *timed(render, rounds)))
        rows.append(("to_html of that Markdown", *timed(lambda: to_html(md), rounds)))
        lineage_module._scan.cache_clear()
        rows.append(("capture_lineage, cold (first push)", *timed(
            lambda: (lineage_module._scan.cache_clear(), lineage_module.capture_lineage()), 5
        )))  # fmt: skip
        rows.append(("capture_lineage, warm", *timed(lineage_module.capture_lineage, rounds)))
        rows.append(("card() Markdown, 30 features", *timed(lambda: reg.card("churn", 2), rounds)))
        rows.append(("card() HTML", *timed(lambda: reg.card("churn", 2, format="html"), rounds)))
        rows.append(("amend_card (re-renders, new revision)", *timed(
            lambda: reg.amend_card("churn", 2, {"notes": "x"}), min(rounds, 20)
        )))  # fmt: skip
        print(f"card: {len(md):,} characters, {md.count(chr(10))} lines")
    print(f"{'what':<42}{'median ms':>12}{'p95 ms':>10}")
    for what, median, p95 in rows:
        print(f"{what:<42}{median * 1000:>12.1f}{p95 * 1000:>10.1f}")


if __name__ == "__main__":
    main()
