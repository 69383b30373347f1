"""Chart builders are pure: frames in, figures out, checked by their traces."""

from __future__ import annotations

import pandas as pd
import pytest

from deploykit.console import charts
from deploykit.console.frames import serving_frame

T0 = 1_700_000_000


def _serving() -> pd.DataFrame:
    def bucket(start: int, version: int, requests: int, **extra: float) -> dict[str, float]:
        return {
            "start": start,
            "version": version,
            "requests": requests,
            "errors_4xx": extra.get("e4", 0),
            "errors_5xx": extra.get("e5", 0),
            "throughput_rps": requests / 60,
            "latency_p50_ms": extra.get("p50", 1.0),
            "latency_p95_ms": extra.get("p95", 2.0),
            "latency_p99_ms": extra.get("p99", 3.0),
        }

    return serving_frame(
        {
            "series": [
                bucket(T0, 1, 60, p95=4.0),
                bucket(T0 + 60, 1, 30, e5=3, p95=5.0),
                bucket(T0 + 60, 2, 120, e4=2, p95=2.5),
                bucket(T0 + 120, 2, 0),  # an idle bucket: no latency to draw
            ]
        }
    )


def test_latency_draws_three_percentiles_per_version_in_the_version_colour():
    fig = charts.latency_figure(_serving())
    assert [t.name for t in fig.data] == [
        "v1 p50",
        "v1 p95",
        "v1 p99",
        "v2 p50",
        "v2 p95",
        "v2 p99",
    ]
    v1_p95 = fig.data[1]
    assert list(v1_p95.y) == [4.0, 5.0]
    assert v1_p95.line.dash == "solid"
    assert fig.data[0].line.dash == "dot"
    assert {t.line.color for t in fig.data[:3]} == {charts.version_color(1)}
    assert fig.data[3].line.color == charts.version_color(2) != charts.version_color(1)
    assert list(fig.data[4].y) == [2.5]  # the idle bucket is left out, not drawn as 0 ms
    # the title promises p50, p95 and p99: the legend names all three (issue 14)
    assert all(t.showlegend is not False for t in fig.data)


def test_traffic_stacks_requests_per_version_and_splits_errors_by_kind():
    fig = charts.traffic_figure(_serving())
    names = [t.name for t in fig.data]
    assert names == ["v1", "v1 5xx", "v1 4xx", "v2", "v2 5xx", "v2 4xx"]
    v1, v1_5xx, v2_4xx = fig.data[0], fig.data[1], fig.data[5]
    assert v1.type == "bar"  # bars: a burst of traffic is not lost as a dot
    assert fig.layout.barmode == "stack"
    assert list(v1.y) == [1.0, 0.5]
    assert list(v1_5xx.y) == [0, 3]
    assert list(v2_4xx.y) == [2, 0]
    assert v1.yaxis == "y"
    assert v1_5xx.yaxis == "y2"


def test_a_few_errors_in_a_long_period_are_seen_and_counted():
    """3 refused requests in one bucket of an hour: a bar wide enough to see, on an axis
    scaled to whole errors, with its count written on it."""
    serving = _serving()
    hour = (pd.Timestamp(T0 - 3540, unit="s", tz="UTC"), pd.Timestamp(T0 + 60, unit="s", tz="UTC"))
    fig = charts.traffic_figure(serving, x_range=hour)
    v1_5xx = fig.data[1]
    assert v1_5xx.width >= 3600 * 1000 / 150 * 0.9  # at least ~1/150 of the axis
    assert list(v1_5xx.text) == ["", "3 5xx"]
    errors_axis = fig.layout.yaxis2
    assert errors_axis.range[1] >= 3 * 1.5  # room above the tallest bar for its label
    assert errors_axis.tickformat == ",d"  # whole errors
    assert v1_5xx.constraintext == "none"  # the label keeps its size on a narrow bar


def test_a_single_bucket_of_latency_is_drawn_big_enough_to_see():
    serving = _serving()
    fig = charts.latency_figure(serving[serving["version"] == 2])
    assert fig.data[1].marker.size >= 6


def test_drift_scores_draw_the_threshold_line():
    windows = pd.DataFrame(
        {
            "since": pd.to_datetime([T0, T0 + 60], unit="s", utc=True),
            "feature": ["age", "age"],
            "score": [0.05, 1.8],
            "drifted": [False, False],
        }
    )
    fig = charts.drift_scores_figure(windows, threshold=0.1)
    (line,) = fig.layout.shapes
    assert (line.y0, line.y1, line.line.dash) == (0.1, 0.1, "dash")
    assert fig.layout.annotations[0].text == "threshold 0.1"
    assert not charts.drift_scores_figure(windows).layout.shapes


@pytest.mark.parametrize("builder", [charts.latency_figure, charts.traffic_figure])
def test_serving_charts_without_requests_say_so(builder):
    fig = builder(serving_frame({"series": []}))
    assert len(fig.data) == 0
    assert fig.layout.annotations[0].text == "No requests in this period"


def test_drift_scores_draw_each_feature_and_mark_drifted_windows():
    windows = pd.DataFrame(
        {
            "since": pd.to_datetime([T0, T0, T0 + 60, T0 + 60], unit="s", utc=True),
            "feature": ["age", "plan", "age", "plan"],
            "score": [0.05, 0.02, 0.31, None],
            "drifted": [False, False, True, False],
        }
    )
    fig = charts.drift_scores_figure(windows)
    assert [t.name for t in fig.data] == ["age", "plan", "drifted"]  # highest score first
    assert list(fig.data[0].y) == [0.05, 0.31]
    assert list(fig.data[1].y) == [0.02]  # a window without a score is no point
    marks = fig.data[2]
    assert list(marks.y) == [0.31]
    assert list(marks.text) == ["age"]
    assert marks.marker.symbol == "x"


def test_drift_scores_keep_the_worst_features_and_say_how_many_were_left_out():
    windows = pd.DataFrame(
        {
            "since": pd.to_datetime([T0] * 5, unit="s", utc=True),
            "feature": list("abcde"),
            "score": [0.1, 0.5, 0.3, 0.2, 0.4],
            "drifted": [False] * 5,
        }
    )
    fig = charts.drift_scores_figure(windows, limit=2)
    assert [t.name for t in fig.data] == ["b", "e"]
    assert fig.layout.title.text.endswith("(top 2 of 5)")


def test_distribution_compares_shares_not_counts():
    fig = charts.distribution_figure(["a", "b"], [750, 250], [10, 30], title="plan")
    reference, current = fig.data
    assert list(reference.y) == [0.75, 0.25]
    assert list(current.y) == [0.25, 0.75]
    assert reference.name == "reference (n=1,000)"
    assert current.name == "current (n=40)"
    assert list(current.x) == ["a", "b"]


def test_distribution_with_mismatched_counts_is_a_clear_error():
    with pytest.raises(ValueError, match="one count per label: 2 labels, 3 reference"):
        charts.distribution_figure(["a", "b"], [1, 2, 3], [1, 2])


def test_accuracy_over_time_beside_the_figure_recorded_at_push():
    windows = pd.DataFrame(
        {
            "since": pd.to_datetime([T0, T0 + 60, T0 + 120], unit="s", utc=True),
            "value": [0.91, None, 0.84],
            "labelled": [40, 0, 25],
        }
    )
    fig = charts.accuracy_figure(windows, metric="accuracy", reference=0.93)
    (live,) = fig.data
    assert list(live.y) == [0.91, 0.84]
    assert list(live.customdata) == [40, 25]
    line = fig.layout.shapes[0]
    assert line.y0 == line.y1 == 0.93
    assert "0.9300" in fig.layout.annotations[0].text


def test_accuracy_without_labels_says_so():
    empty = pd.DataFrame(columns=["since", "value", "labelled"])
    fig = charts.accuracy_figure(empty)
    assert fig.layout.annotations[0].text == "No feedback labels in this period"


def test_time_charts_show_the_whole_period_even_for_one_point():
    one = serving_frame({"series": [{"start": T0, "version": 1, "requests": 3}]})
    period = (
        pd.Timestamp(T0 - 3600, unit="s", tz="UTC"),
        pd.Timestamp(T0 + 60, unit="s", tz="UTC"),
    )
    fig = charts.latency_figure(one, x_range=period)
    assert [pd.Timestamp(x) for x in fig.layout.xaxis.range] == list(period)
    assert fig.data[1].mode == "lines+markers"  # a lone bucket is a visible dot
