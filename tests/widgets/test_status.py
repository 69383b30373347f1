from deploykit.widgets import StatusView, status_figure


def test_without_a_server_the_view_shows_what_is_known(churn):
    view = StatusView("churn", session=churn)
    assert view.status.live_version == 2
    assert view.figure is None
    assert "version 2" in view.summary.value
    assert "come from a deploykit server" in view.summary.value


def test_an_unknown_model_is_an_error_in_the_view(session):
    view = StatusView("nope", session=session)
    assert view.status is None
    assert view.error.startswith("No model named 'nope'")


def test_status_figure_draws_requests_and_p95_per_version():
    series = [
        {"start": 1_700_000_000, "version": 1, "throughput_rps": 2.0, "latency_p95_ms": 3.0},
        {"start": 1_700_000_060, "version": 1, "throughput_rps": 1.0, "latency_p95_ms": 4.0},
        {"start": 1_700_000_060, "version": 2, "throughput_rps": 5.0, "latency_p95_ms": 2.5},
    ]
    fig = status_figure(series, title="churn")
    names = [t.name for t in fig.data]
    assert names == ["v1 req/s", "v1 p95 ms", "v2 req/s", "v2 p95 ms"]
    assert list(fig.data[0].y) == [2.0, 1.0]
    assert list(fig.data[3].y) == [2.5]
    assert fig.layout.title.text == "churn"
