"""The model page tells what happened (issue 14): the evidence behind an alert and the
rollback it caused, a badge that follows the latest move of production, and buttons that
say which way a move goes. A real server with its own models (this module's `server`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from deploykit.console import Console
from deploykit.console.data import current_alert
from deploykit.records import Event
from deploykit.registry import Registry

NOW = datetime.now(timezone.utc)


def _event(id: int, action: str, minutes_ago: float, alias: str | None = "production") -> Event:
    at = NOW - timedelta(minutes=minutes_ago)
    return Event(id, at, "someone", action, "churn", alias, 2, 1, reason=f"{action} {id}")


def test_the_badge_follows_the_latest_move_of_production():
    rolled = _event(2, "auto-rollback", 5)
    alert = _event(1, "alert", 5)
    assert current_alert([alert, rolled]) == rolled
    # a person deployed afterwards: the auto-rollback no longer describes the model
    assert current_alert([alert, rolled, _event(3, "deploy", 1)]) is None
    assert current_alert([alert, rolled, _event(3, "rollback", 1)]) is None
    # ... but a deploy of another alias says nothing about production
    assert current_alert([alert, rolled, _event(3, "deploy", 1, alias="staging")]) == rolled
    # an alert after the manual move counts again; an old one does not
    assert current_alert([_event(3, "deploy", 3), _event(4, "alert", 1)]).id == 4
    assert current_alert([_event(4, "alert", 60)]) is None


def _fire(server, version: int) -> tuple[Event, Event]:
    """What the server's alert loop records when a drift rule with rollback fires."""
    reason = (
        f"alert 'drift': drift_share 0.5 > 0.2 over the last 120 s (400 rows) on iris:{version}"
    )
    details = {
        "rule": "drift",
        "metric": "drift_share",
        "threshold": 0.2,
        "window_seconds": 120,
        "value": 0.5,
        "count": 400,
        "unit": "rows",
        "model": "iris",
        "version": version,
        "rollback": True,
    }
    with Registry(server.settings.replace(actor="deploykit-monitor")) as registry:
        alert = registry.record_alert("iris", reason, version=version, details=details)
        registry.rollback("iris", reason=reason, action="auto-rollback", if_current=version)
        back = registry.events("iris", limit=1)[0]
    return alert, back


def test_an_auto_rollback_shows_its_evidence_and_a_manual_redeploy_clears_the_badge(
    server, client, production
):
    assert production == 3
    _alert, back = _fire(server, 3)
    assert (back.action, back.from_version, back.to_version) == ("auto-rollback", 3, 2)

    console = Console(client)
    assert "rolled back" in console.overview.rows["iris"].cells[2].value
    view = console.open("iris")
    assert ">rolled back<" in view.heading.value
    # the evidence: the rule's figures and version 3's drift, though production is now v2
    assert view.evidence.layout.display is None
    note = view.evidence_note.value
    assert "alert 'drift'</b> fired at" in note
    assert "version 3</b>: drift_share 0.5 &gt; 0.2 over the last 120 s (400 rows)" in note
    assert "rolled back automatically: 3 → 2" in note
    assert "Version 3 from" in note
    assert view.evidence_drift.figure.layout.title.text.startswith("Version 3: drift score")
    assert len(view.evidence_drift.figure.data) >= 4  # iris's four features, v3's traffic
    assert view.evidence_drift.figure.layout.shapes  # the threshold line
    # the audit log's alert and auto-rollback link to it; nothing else does
    assert view.events.value.count('href="#dk-evidence"') == 2
    assert 'id="dk-evidence"' in view.evidence.children[0].value
    # the production drift chart says whose drift it is and what its line means
    assert "Drifted features of version 2 (production)" in view.drift_note.value
    assert "dashed threshold" in view.drift_note.value

    # a person puts v3 back: the page and the overview no longer say "rolled back"
    client.deploy("iris", 3, reason="fixed upstream, back to the tree")
    console.refresh()
    assert ">rolled back<" not in view.heading.value
    assert "production: version <b>3</b>" in view.heading.value
    console.home()
    assert "rolled back" not in console.overview.rows["iris"].cells[2].value


def test_roll_back_here_is_offered_on_older_versions_only(client, production):
    console = Console(client)
    view = console.open("iris")
    rows = {r.version: r for r in view.table._rows if r.version is not None}
    assert production == 3
    assert [v for v, r in sorted(rows.items()) if r.back.layout.visibility == "visible"] == [1, 2]

    client.deploy("iris", 1, reason="test: the oldest")
    console.refresh()
    # v2 and v3 are newer than production: moving there is a deploy, offered as one
    assert rows[2].back.layout.visibility == rows[3].back.layout.visibility == "hidden"
    assert rows[2].back.disabled
    assert rows[3].back.disabled
    assert not rows[2].deploy.disabled
    assert not rows[3].deploy.disabled
    assert rows[1].back.layout.visibility == "hidden"  # the live one
