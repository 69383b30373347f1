"""The console's pages driven through their methods and buttons, on a real server, no browser."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from deploykit.client import Client
from deploykit.console import Console
from deploykit.console.table import ConsoleVersionsTable
from deploykit.console.views import OverviewView
from deploykit.server.testing import free_port


@pytest.fixture
def console(client: Client) -> Iterator[Console]:
    c = Console(client, refresh_seconds=0.2)
    yield c
    c.stop()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.05)


def test_overview_shows_every_model_with_its_live_version_and_status(console):
    rows = console.overview.rows
    assert sorted(rows) == ["draft", "iris"]
    iris = [c.value for c in rows["iris"].cells]
    assert iris[0] == "<b>v3</b>"
    assert "serving" in iris[2]
    assert iris[3].endswith("/s")
    assert iris[4].endswith(" ms")
    assert "not deployed" in rows["draft"].cells[2].value
    assert console.overview.empty.layout.display == "none"
    assert console.error is None
    assert "(admin)" in console.title.value


def test_an_empty_registry_shows_the_two_lines_that_push_a_first_model():
    view = OverviewView(server_url="http://10.0.0.5:8765", on_open=lambda name: None)
    view.show([])
    assert view.empty.layout.display is None
    assert view.grid.layout.display == "none"
    assert "%load_ext deploykit\n%deploy push model --name churn --data X_train --deploy" in (
        view.empty.value
    )
    assert "DEPLOYKIT_SERVER_URL=http://10.0.0.5:8765" in view.empty.value


def test_a_model_page_has_versions_charts_drift_and_the_audit_log(console):
    console.overview.rows["iris"].open_button.click()
    view = console.pages["iris"]
    assert console.current == "iris"
    assert console.body.children == (view,)
    assert "production: version <b>3</b>" in view.heading.value
    assert sorted(view.table.row_buttons) == [1, 2, 3]
    assert view.table.row_buttons[3].disabled  # live already
    assert not view.table.row_buttons[2].disabled
    assert "v3 p95" in [t.name for t in view.latency.figure.data]
    assert view.traffic.figure.data[0].name == "v3"
    drift = view.drift_scores.figure
    assert {t.name for t in drift.data} == {
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
    }
    assert "Drifted features of version 3 (production) over this period: <b>0%</b>" in (
        view.drift_note.value
    )
    assert "rollback" not in view.events.value  # nothing rolled back yet
    assert view.events.value.count("deploy") >= 3
    view.back_button.click()
    assert console.current is None
    assert console.body.children == (console.overview,)


def test_rollback_asks_for_confirmation_and_keeps_the_reason(console, client, production):
    view = console.open("iris")
    view.table.rollback_button.click()
    assert view.table.confirm_box.layout.display is None  # the question is shown
    assert "back from version <b>3</b>" in view.table.question.value
    assert client.model("iris").production == production  # nothing moved yet

    view.table.reason_box.value = "v3 misroutes setosa"
    view.table.confirm_button.click()
    assert view.table.error is None
    assert client.model("iris").production == 2
    event = client.events("iris", limit=1)[0]
    assert (event.action, event.from_version, event.to_version) == ("rollback", 3, 2)
    assert event.reason == "v3 misroutes setosa"
    # the table and the page around it show it at once, without waiting for a refresh
    assert view.table.live_version == 2
    assert "production: version <b>2</b>" in view.heading.value
    assert "production rolled back: 3 → 2" in view.table.feedback.widget.value


def test_cancel_moves_nothing(console, client, production):
    view = console.open("iris")
    view.table.row_buttons[1].click()
    assert "Deploy <b>iris</b> version <b>1</b>" in view.table.question.value
    view.table.cancel_button.click()
    assert view.table.confirm_box.layout.display == "none"
    assert client.model("iris").production == production


def test_a_viewer_token_sees_the_buttons_disabled_with_the_reason(server, client, production):
    token = client.create_token("viewer", name="wallboard")
    with Client(server.url, token=token) as viewer:
        console = Console(viewer)
        view = console.open("iris")
    table = view.table
    reason = "Read-only: your token (wallboard) has the 'viewer' role"
    assert "(viewer)" in console.title.value
    assert reason in view.access_note.value
    buttons = [table.rollback_button, *table.row_buttons.values(), *table.rollback_buttons.values()]
    assert all(b.disabled for b in buttons)
    assert table.rollback_button.tooltip.startswith(reason)
    table.request_rollback()  # as a click would, if a browser let it through
    assert table.error.startswith(reason)
    assert table.confirm_box.layout.display == "none"
    assert client.model("iris").production == production


def test_versions_are_paged_newest_first(client):
    table = ConsoleVersionsTable(client, "iris", page_size=2)
    assert list(table.row_buttons) == [3, 2]
    assert table.newer_button.disabled
    assert table.page_label.value == "versions 2–3 of 3"
    table.older_button.click()
    assert list(table.row_buttons) == [1]
    assert table.older_button.disabled
    assert not table.newer_button.disabled
    cells = len(table.grid.children)
    table.newer()
    assert list(table.row_buttons) == [3, 2]
    assert len(table.grid.children) == cells + 8  # one more row of 8 cells, reused widgets


def test_the_console_refreshes_on_its_own_and_in_place(console, client, production):
    row = console.overview.rows["iris"]
    cell = row.cells[0]
    console.start()
    client.deploy("iris", 1, reason="seen from another client")
    wait_for(lambda: cell.value == "<b>v1</b>")
    assert console.overview.rows["iris"] is row  # the same widgets, new values
    assert row.cells[0] is cell

    view = console.open("iris")
    view.table.feedback.say("production rolled back: 3 → 1")  # what a click here said
    before = view.table.grid.children
    client.deploy("iris", 2, reason="again")
    wait_for(lambda: "production: version <b>2</b>" in view.heading.value)
    wait_for(lambda: view.table.live_version == 2)
    assert view.table.grid.children == before  # rows updated in place, no new widgets
    assert view.table.feedback.message is None  # moved elsewhere: the old outcome is gone
    drawn = view.latency.draws
    refreshes = console.refreshes
    wait_for(lambda: console.refreshes >= refreshes + 3)
    assert view.latency.draws <= drawn + 3  # redrawn only when its data changed


def test_the_period_buttons_refetch_the_charts(console):
    view = console.open("iris")
    view.set_period("7 days")
    assert console.period_seconds == 7 * 86400
    assert view.page.window_seconds == 7 * 86400
    assert "last 7 days" in view.heading.value


def test_an_unreachable_server_is_one_line_and_the_console_carries_on():
    port = free_port()
    with Client(f"http://127.0.0.1:{port}", token="dk_nope", timeout=2) as client:
        console = Console(client, refresh_seconds=0.1)
        assert console.error.startswith(
            f"Cannot reach the deploykit server at http://127.0.0.1:{port}"
        )
        assert "retrying every 0.1 s" in console.status.value
        assert "not signed in" in console.title.value
        console.refresh()
        assert console.refreshes == 2
