"""The audit log: one event per mutating call, newest first, never rewritten."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from deploykit.errors import (
    InvalidInputError,
    ModelNotFoundError,
    NothingToRollBackError,
    VersionNotFoundError,
)
from deploykit.records import utcnow
from deploykit.registry import Registry


def story(reg, model):
    reg.push(model, "churn", description="first")
    reg.push(model, "churn", deploy=True)
    reg.deploy("churn", 1, reason="v2 is slow")
    reg.rollback("churn", reason="v1 misses churners")
    reg.deploy("churn", 1, alias="staging")
    reg.delete_alias("churn", "staging", reason="unused")
    reg.push(model, "fraud")


def test_every_mutating_call_appends_one_event(reg, model):
    story(reg, model)
    rows = [
        (e.action, e.model, e.alias, e.from_version, e.to_version, e.reason)
        for e in reversed(reg.events())
    ]
    assert rows == [
        ("push", "churn", None, None, 1, "first"),
        ("push", "churn", None, None, 2, None),
        ("deploy", "churn", "production", None, 2, "deployed on push"),
        ("deploy", "churn", "production", 2, 1, "v2 is slow"),
        ("rollback", "churn", "production", 1, 2, "v1 misses churners"),
        ("deploy", "churn", "staging", None, 1, None),
        ("alias-delete", "churn", "staging", 1, None, "unused"),
        ("push", "fraud", None, None, 1, None),
    ]
    assert {e.actor for e in reg.events()} == {"tester"}


def test_events_are_newest_first_and_filterable(reg, model):
    story(reg, model)
    everything = reg.events()
    assert [e.id for e in everything] == sorted((e.id for e in everything), reverse=True)
    assert everything[0].id == reg.last_event_id()
    assert {e.model for e in reg.events("fraud")} == {"fraud"}
    assert [e.to_version for e in reg.events("churn", action="push")] == [2, 1]
    assert len(reg.events(limit=2)) == 2
    assert reg.events(since=utcnow() + timedelta(minutes=1)) == []
    assert len(reg.events(since=utcnow() - timedelta(minutes=1))) == len(everything)
    first = everything[-1]
    assert first.at.tzinfo is not None
    assert first.details["digest"].startswith("sha256:")


def test_event_filters_are_checked(reg, model):
    reg.push(model, "churn")
    with pytest.raises(ModelNotFoundError, match="did you mean 'churn'"):
        reg.events("chrun")
    with pytest.raises(InvalidInputError, match="'action' parameter"):
        reg.events(action="promote")
    with pytest.raises(InvalidInputError, match="'limit' parameter"):
        reg.events(limit=0)


def test_a_failed_call_appends_no_event(reg, model):
    reg.push(model, "churn", deploy=True)
    before = reg.last_event_id()
    with pytest.raises(VersionNotFoundError):
        reg.deploy("churn", 7)
    with pytest.raises(NothingToRollBackError):
        reg.rollback("churn")
    assert reg.last_event_id() == before


def test_last_event_id_is_zero_on_an_empty_registry_and_seen_by_other_instances(reg, model):
    assert reg.last_event_id() == 0
    with Registry() as other:
        reg.push(model, "churn")
        assert other.last_event_id() == reg.last_event_id() == 1


def test_events_survive_reopening_unchanged(reg, model):
    story(reg, model)
    before = [e.to_dict() for e in reg.events()]
    reg.close()
    with Registry() as again:
        assert [e.to_dict() for e in again.events()] == before


def test_the_event_log_has_no_update_or_delete_path(reg, model):
    """Nothing in the registry's SQL touches old events: count statements that would."""
    statements = []
    sa.event.listen(reg.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    story(reg, model)
    touching = [
        s
        for s in statements
        if s.lstrip().upper().startswith(("UPDATE EVENTS", "DELETE FROM EVENTS"))
    ]
    assert statements
    assert touching == []


def test_an_alert_is_logged_without_moving_anything(reg, model):
    reg.push(model, "churn", deploy=True)
    event = reg.record_alert("churn", "drift in age (PSI 0.31)", version=1, details={"psi": 0.31})
    assert (event.action, event.to_version, event.reason) == ("alert", 1, "drift in age (PSI 0.31)")
    assert event.details == {"psi": 0.31}
    assert reg.events(action="alert") == [event]
    assert reg.model("churn").production == 1
    with pytest.raises(VersionNotFoundError):
        reg.record_alert("churn", "drift", version=4)
    with pytest.raises(InvalidInputError, match="needs a reason"):
        reg.record_alert("churn", " ")


def test_as_actor_records_another_actor_on_the_same_database(reg, model):
    reg.push(model, "churn")
    ci = reg.as_actor("ci-bot")
    ci.deploy("churn", 1, reason="nightly")
    assert [e.actor for e in reg.events()] == ["ci-bot", "tester"]
    assert ci.engine is reg.engine
    assert reg.settings.actor == "tester"
