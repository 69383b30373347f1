"""The card of a version: generated at push, amended as revisions, history from the log."""

from __future__ import annotations

import re
from typing import Any

import pytest

import deploykit
from deploykit.cards.diff import card_diff, render_diff
from deploykit.errors import InvalidInputError, NotFoundError
from tests.cards.conftest import push_quietly


@pytest.fixture
def pushed(reg: Any, churn_data: Any, churn_model: Any) -> Any:
    X, y = churn_data
    features = X.drop(columns="region")
    report = deploykit.evaluate(churn_model, features, y, against=reg, name="churn")
    return push_quietly(
        reg,
        churn_model,
        X=features,
        evaluation=report,
        gate="accuracy >= 0.7",
        description="Who will leave next month",
        card={"intended_use": "Retention offers", "owners": ["ana", "bo"]},
        deploy=True,
    )


def test_the_card_says_what_the_version_is(reg: Any, pushed: Any) -> None:
    card = reg.card("churn", 1)
    assert card.startswith("# Model card: churn, version 1")
    assert "> Who will leave next month" in card
    assert "**Intended use.** Retention offers" in card
    assert "**Owners.** ana, bo" in card
    assert pushed.data_fingerprint["sha256"] in card  # the training data fingerprint
    assert "| `x29` | numeric | 0.0% |" in card  # the profile, one row per feature
    assert re.search(r"\| accuracy \| 0\.\d{4} \| 0\.\d{4} \|", card)  # beside the baseline
    assert "`accuracy>=0.7`: **passed**" in card  # the gate and its result
    assert "Input: dataframe of 30 columns." in card  # the signature
    assert "`C` | `1.0`" in card  # the parameters
    assert "| scikit-learn |" in card
    assert "## Package lock" in card
    assert "## Lineage" in card
    assert "| push |" in card or "| push | ana |" in card  # history, from the audit log
    assert "deploy (production: v— → v1)" in card


def test_evaluation_beside_production_names_its_version(
    reg: Any, churn_data: Any, churn_model: Any, pushed: Any
) -> None:
    X, y = churn_data
    features = X.drop(columns="region")
    report = deploykit.evaluate(churn_model, features, y, against=reg, name="churn")
    push_quietly(reg, churn_model, X=features, evaluation=report)
    assert "| metric | this version | baseline | production (v1) |" in reg.card("churn", 2)


def test_an_amendment_is_a_new_revision_and_an_audited_event(reg: Any, pushed: Any) -> None:
    before = reg.version("churn", 1)
    revision = reg.amend_card(
        "churn", 1, {"limitations": "Not for business accounts", "owners": None}, reason="review"
    )
    assert revision.revision == 2
    assert revision.actor == "ana"
    assert revision.fields == {
        "intended_use": "Retention offers",
        "limitations": "Not for business accounts",
    }
    latest = reg.card("churn", 1)
    assert "**Limitations.** Not for business accounts" in latest
    assert "**Owners.**" not in latest
    assert "card revision 2" in latest  # in the history section
    first = reg.card("churn", 1, revision=1)
    assert "**Owners.** ana, bo" in first
    assert "Limitations" not in first.split("## Training")[0]
    event = reg.events("churn", action="card")[0]
    assert (event.to_version, event.reason, event.details["revision"]) == (1, "review", 2)
    assert reg.version("churn", 1) == before  # the version itself never changes


def test_bad_amendments_name_the_field(reg: Any, pushed: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown field.*'colour'.*intended_use"):
        reg.amend_card("churn", 1, {"colour": "blue"})
    with pytest.raises(InvalidInputError, match=r"'fields\.owners' field must be a name or a list"):
        reg.amend_card("churn", 1, {"owners": [3]})
    with pytest.raises(InvalidInputError, match="at least one card field"):
        reg.amend_card("churn", 1, {})
    with pytest.raises(NotFoundError, match="no revision 7 \\(latest is 1\\)"):
        reg.card("churn", 1, revision=7)
    with pytest.raises(InvalidInputError, match="'format' parameter must be 'markdown' or 'html'"):
        reg.card("churn", 1, format="pdf")
    with pytest.raises(InvalidInputError, match="'card' parameter has unknown field"):
        push_quietly(reg, object(), card={"purpose": "x"})


def test_html_shows_user_text_as_text(reg: Any, pushed: Any) -> None:
    reg.amend_card("churn", 1, {"notes": "<script>alert(1)</script> | pipes | too"})
    html = reg.card("churn", 1, format="html")
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<table>" in html
    assert "<h2>Evaluation</h2>" in html


def test_a_version_without_data_or_evaluation_still_has_a_card(reg: Any, churn_model: Any) -> None:
    push_quietly(reg, churn_model)
    card = reg.card("churn", "latest")
    assert "Pushed without training data" in card
    assert "Not evaluated at push" in card
    assert "No gate was checked" in card


def test_the_diff_says_what_changed(
    reg: Any, churn_data: Any, churn_model: Any, pushed: Any
) -> None:
    from sklearn.linear_model import LogisticRegression

    X, y = churn_data
    features = X.drop(columns="region").iloc[:300]
    other = LogisticRegression(C=0.05, max_iter=500).fit(features, y.iloc[:300])
    report = deploykit.evaluate(other, features, y.iloc[:300])
    push_quietly(reg, other, X=features, evaluation=report)
    a, b = reg.version("churn", 1), reg.version("churn", 2)
    diff = card_diff(
        a,
        b,
        lineage_a=reg.lineage("churn", 1)["lineage"],
        lineage_b=reg.lineage("churn", 2)["lineage"],
    )
    assert diff["data"]["same"] is False
    assert diff["data"]["rows"] == (400, 300)
    assert ("C", 1.0, 0.05) in diff["params"]
    assert {m for m, _, _ in diff["metrics"]} >= {"accuracy"}
    assert diff["environment"] == []  # same process, same lock
    text = render_diff(diff)
    assert "# What changed from churn:1 to churn:2" in text
    assert "| C | 1.0000 | 0.0500 |" in text
    assert "rows 400 → 300" in text


def test_slices_named_at_evaluation_show_on_the_card(
    reg: Any, churn_data: Any, churn_model: Any
) -> None:
    X, y = churn_data
    features = X.drop(columns="region")
    report = deploykit.evaluate(churn_model, features, y, slice_by=X["region"])
    groups = {g["value"]: g for g in report.slices["groups"]}
    assert set(groups) == {"north", "south"}
    assert groups["north"]["rows"] + groups["south"]["rows"] == len(y)
    north = (X["region"] == "north").to_numpy()
    expected = float((churn_model.predict(features[north]) == y[north]).mean())
    assert groups["north"]["metrics"]["accuracy"] == pytest.approx(expected)
    push_quietly(reg, churn_model, X=features, evaluation=report)
    card = reg.card("churn", 1)
    assert "By `region`:" in card
    assert re.search(r"\| north \| \d+ \| ", card)
    with pytest.raises(deploykit.errors.EvaluationError, match="'slice_by' parameter must name"):
        deploykit.evaluate(churn_model, features, y, slice_by="region")
