import html
import re
from datetime import datetime, timezone

from deploykit.evaluation import EvaluationReport, Gate
from deploykit.magics.help import help_html, help_text
from deploykit.magics.parser import SUBCOMMANDS
from deploykit.records import Alias, Event, ModelInfo, ModelVersion
from deploykit.ui import render
from deploykit.ui.results import ConsoleLink, ModelStatus, Prediction, Target

AT = datetime(2025, 3, 1, 12, 30, tzinfo=timezone.utc)


def version(number=1, aliases=(), gate=None, description="", metrics=None):
    return ModelVersion(
        model="churn",
        version=number,
        digest="sha256:" + "ab" * 32,
        format="joblib",
        size=12_345,
        created_at=AT,
        author="ana",
        estimator="sklearn.ensemble.RandomForestClassifier",
        description=description,
        metrics=metrics if metrics is not None else {"roc_auc": 0.91, "accuracy": 0.88},
        gate=gate,
        aliases=tuple(aliases),
    )


def report(production=True):
    return EvaluationReport(
        task="binary",
        n_samples=143,
        metrics={"accuracy": 0.95, "roc_auc": 0.97, "log_loss": 0.12},
        baseline={"accuracy": 0.63, "roc_auc": 0.5, "log_loss": 0.66},
        production={"accuracy": 0.96, "roc_auc": 0.95, "log_loss": 0.15} if production else None,
        production_version=1 if production else None,
        production_note=None if production else "no production version to compare with",
    )


def cell_of(html, text):
    """The <td> whose content contains ``text``."""
    match = re.search(r"<td[^>]*>([^<]*<span[^>]*>[^<]*" + re.escape(text) + r"[^<]*</span>)", html)
    assert match, f"{text!r} not in a coloured cell"
    return match.group(1)


def test_report_colours_deltas_by_which_way_is_better():
    html = render.report_html(report())
    # accuracy fell: red; roc_auc rose: green; log_loss fell, and lower is better: green
    assert render.BAD in cell_of(html, "-0.0100")
    assert render.GOOD in cell_of(html, "+0.0200")
    assert render.GOOD in cell_of(html, "-0.0300")
    assert "production (v1)" in html
    assert "Δ vs production" in html


def test_report_text_says_better_or_worse():
    text = render.report_text(report())
    assert re.search(r"accuracy .* -0\.0100 worse", text)
    assert re.search(r"log_loss .* -0\.0300 better", text)


def test_report_without_production_says_why():
    html = render.report_html(report(production=False))
    assert "Δ vs production" not in html
    assert "no production version to compare with" in html
    assert "no production version to compare with" in render.report_text(report(False))


def test_report_shows_its_gate_check():
    rep = report()
    rep = EvaluationReport(**{**vars(rep), "gate": Gate.parse("roc_auc>=0.99").check(rep)})
    html = render.report_html(rep)
    assert "gate failed: roc_auc 0.97 &lt; 0.99" in html
    assert "gate failed: roc_auc 0.97 < 0.99" in render.report_text(rep)


def test_user_text_is_escaped():
    html = render.version_html(version(description="<script>alert(1)</script>"))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_version_card_shows_gate_and_live_alias():
    gate = Gate.parse("roc_auc>=0.9")
    passed = gate.check(report()).to_dict()
    text = render.version_text(version(aliases=("production",), gate=passed))
    assert text.splitlines()[0].startswith("churn:1  sklearn.ensemble.RandomForestClassifier")
    assert "gate passed (1/1)" in text
    assert "live: production" in text
    assert "not deployed" in render.version_text(version())
    html = render.version_html(version(aliases=("production",), gate=passed))
    assert "production" in html
    assert render.GOOD in html
    assert "12.3 kB" in html


def test_versions_table_marks_the_live_version():
    rows = [version(1), version(2, aliases=("production",)), version(3, aliases=("staging",))]
    text = render.versions_text(rows)
    assert text.splitlines()[0] == "churn: 3 versions"
    assert len(text.splitlines()) == 2 + 3
    assert "production" in text.splitlines()[3]
    html = render.versions_html(rows)
    assert html.count("<tr>") == 1 + 3
    assert "● 2" in html


def test_alias_models_and_events():
    alias = Alias(model="churn", name="production", version=2, updated_at=AT, updated_by="ana")
    assert render.alias_text(alias) == "churn: production → version 2 (by ana, 2025-03-01 12:30)"
    info = ModelInfo(name="churn", created_at=AT, latest_version=3, aliases={"production": 2})
    assert "churn" in render.models_text([info])
    assert "2" in render.models_text([info])
    event = Event(
        id=1,
        at=AT,
        actor="ana",
        action="rollback",
        model="churn",
        alias="production",
        from_version=3,
        to_version=2,
        reason="recall <dropped>",
    )
    assert "3 → 2" in render.events_text([event])
    assert "recall &lt;dropped&gt;" in render.events_html([event])
    assert render.models_text([]).startswith("No models yet")


def test_status_without_a_server_says_what_is_missing():
    status = ModelStatus("churn", 2, note="Serving figures need a server")
    text = render.status_text([status])
    assert "live         version 2" in text
    assert "Serving figures need a server" in text
    assert "requests/s" not in text


def test_status_with_serving_figures_flags_a_high_error_rate():
    serving = {
        "requests": 200,
        "errors_4xx": 1,
        "errors_5xx": 5,
        "throughput_rps": 3.5,
        "latency_p95_ms": 4.25,
    }
    status = ModelStatus("churn", 2, serving=serving)
    text = render.status_text([status])
    assert "requests/s   3.5 (average)" in text
    assert "p95 latency  4.25 ms" in text
    assert "error rate   2.50% (5xx)" in text  # as alert rules count it: server failures
    assert "bad input    0.50% (4xx, refused)" in text
    html = render.status_html([status])
    assert re.search(render.BAD + r"[^>]*>2\.50%", html)


def test_sparse_traffic_reads_as_a_rate_per_minute_or_hour_not_zero():
    def line(rps: float) -> str:
        serving = {"requests": 1, "throughput_rps": rps, "latency_p95_ms": 1.0}
        text = render.status_text([ModelStatus("churn", 2, serving=serving, window="1 h")])
        return next(x for x in text.splitlines() if "requests/s" in x)

    assert line(1 / 3600).endswith("0.00028 (average: 1 an hour)")
    assert line(0.05).endswith("0.05 (average: 3 a minute)")
    assert line(0.0).endswith("0 (average)")


def test_target_console_prediction_help():
    assert "embedded registry" in render.target_text(Target(None, "sqlite:///x.db"))
    server = render.target_text(Target("http://h:8765", "http://h:8765", "$DK_TOKEN"))
    assert "server http://h:8765, token from $DK_TOKEN" in server
    link = ConsoleLink("http://h:8765/console", "start it with deploykit up")
    assert 'href="http://h:8765/console"' in render.console_html(link)
    pred = Prediction("churn", 2, list(range(12)), via="embedded registry")
    assert "churn:2 predicted 12 row(s)" in render.prediction_text(pred)
    assert "… (12 in all)" in render.prediction_text(pred)
    text = help_text(SUBCOMMANDS.values())
    for spec in SUBCOMMANDS.values():
        assert spec.example in text
        assert html.escape(spec.example) in help_html(SUBCOMMANDS.values())


def test_numbers():
    assert render.number(0.912345) == "0.9123"
    assert render.number(12345.678) == "12,345.68"
    assert render.signed(-0.01) == "-0.0100"
    assert render.size(999) == "999 B"
    assert render.size(12_345) == "12.3 kB"
