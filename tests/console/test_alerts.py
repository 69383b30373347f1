"""Alert rules and what they fired, as the console shows them (a server of its own)."""

from __future__ import annotations

from deploykit.console import Console
from deploykit.registry import Registry


def test_an_alert_turns_the_badge_red_and_the_rules_are_listed(server, client):
    client.set_alert("iris", "errors", metric="error_rate", threshold=0.05, rollback=True)
    with Registry(server.settings.replace(actor="deploykit-monitor")) as registry:
        registry.record_alert("iris", "errors: error_rate 0.09 > 0.05 over 5 min", version=3)

    console = Console(client)
    iris = console.overview.rows["iris"].cells[2].value
    assert "alert" in iris
    assert "errors: error_rate 0.09 &gt; 0.05 over 5 min" in iris  # the badge's tooltip
    assert "not deployed" in console.overview.rows["draft"].cells[2].value

    view = console.open("iris")
    assert ">alert<" in view.heading.value
    rules = view.rules.value
    assert "errors" in rules
    assert "error_rate &gt; 0.05 over 5 min" in rules
    assert "rolls back" in rules
    assert ">quiet<" in rules  # this rule never fired itself: the event above was recorded
    assert "errors: error_rate 0.09" in view.events.value
