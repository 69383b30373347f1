"""Alert rules and drift options of each model, kept in the registry database.

Registry-level functions, so that notebooks, the CLI and the server share them::

    set_alert(reg, "churn", "errors", metric="error_rate", threshold=0.05, rollback=True)
    alerts(reg, "churn"); delete_alert(reg, "churn", "errors")
    set_drift_options(reg, "churn", DriftOptions(features={"age": 0.2}))

The HTTP server offers the same under ``/v1/models/{name}/alerts`` and
``/v1/models/{name}/drift/options``; :class:`deploykit.Client` has the same methods.
The two ``claim_*`` functions are how replicas take turns (see :mod:`.tables`).
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deploykit.errors import NotFoundError
from deploykit.monitoring.rules import RULE_FIELDS, AlertOptions, AlertRule, check_options
from deploykit.monitoring.tables import alert_rules, drift_settings
from deploykit.records import utcnow
from deploykit.registry.database import run_in_transaction
from deploykit.registry.rows import as_utc

if TYPE_CHECKING:
    from typing import Unpack

    from deploykit.monitoring.options import DriftOptions
    from deploykit.registry import Registry

__all__ = [
    "alerts",
    "claim_check",
    "claim_fire",
    "delete_alert",
    "drift_options",
    "set_alert",
    "set_drift_options",
]


def _rule(row: Any) -> AlertRule:
    """A rule from its row: the columns carry the record's fields (flags and times as stored)."""
    values = {field.name: getattr(row, field.name) for field in dataclasses.fields(AlertRule)}
    fired = row.last_fired_at
    values.update(
        rollback=bool(row.rollback),
        enabled=bool(row.enabled),
        created_at=as_utc(row.created_at),
        last_fired_at=None if fired is None else _from_epoch(fired),
    )
    return AlertRule(**values)


def _from_epoch(seconds: float) -> Any:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def set_alert(
    registry: Registry, name: str, rule: str, **options: Unpack[AlertOptions]
) -> AlertRule:
    """Create or replace the alert rule ``rule`` of model ``name``; the stored rule."""
    check_options(options, call="set_alert")
    registry.model(name)  # ModelNotFoundError, naming the known models
    draft = AlertRule(name, rule, **options)
    if draft.webhook is not None:  # a private or link-local target: refused here, 422
        from deploykit.monitoring.webhooks import check_webhook_url

        check_webhook_url(draft.webhook, registry.settings.webhook_allow_networks)
    values = {f: getattr(draft, f) for f in RULE_FIELDS}
    actor = registry.settings.actor

    def work(connection: sa.Connection) -> AlertRule:
        where = (alert_rules.c.model == draft.model, alert_rules.c.name == draft.name)
        # A changed rule is evaluated afresh at the next round.
        updated = connection.execute(
            alert_rules.update().where(*where).values(**values, next_check_at=None)
        )
        if not updated.rowcount:
            connection.execute(
                alert_rules.insert().values(
                    model=draft.model,
                    name=draft.name,
                    created_at=utcnow(),
                    created_by=actor,
                    **values,
                )
            )
        return _rule(connection.execute(sa.select(alert_rules).where(*where)).one())

    return run_in_transaction(registry.engine, work)


def alerts(registry: Registry, name: str | None = None) -> list[AlertRule]:
    """The alert rules of model ``name`` (of every model if None), by model and rule name."""
    query = sa.select(alert_rules).order_by(alert_rules.c.model, alert_rules.c.name)
    if name is not None:
        registry.model(name)
        query = query.where(alert_rules.c.model == name)
    with registry.engine.connect() as connection:
        return [_rule(row) for row in connection.execute(query)]


def delete_alert(registry: Registry, name: str, rule: str) -> AlertRule:
    """Remove the rule ``rule`` of ``name``; the rule removed. NotFoundError names the rules."""
    existing = alerts(registry, name)
    found = next((r for r in existing if r.name == rule), None)
    if found is None:
        names = [r.name for r in existing]
        close = difflib.get_close_matches(str(rule), names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        have = f"its rules are {', '.join(map(repr, names))}" if names else "it has no rules"
        raise NotFoundError(f"Model {name!r} has no alert rule {rule!r}; {have}.{hint}")

    def work(connection: sa.Connection) -> None:
        connection.execute(alert_rules.delete().where(alert_rules.c.id == found.id))

    run_in_transaction(registry.engine, work)
    return found


def set_drift_options(
    registry: Registry, name: str, options: DriftOptions | dict[str, Any]
) -> DriftOptions:
    """Keep ``options`` as model ``name``'s drift options (used by drift checks and alerts)."""
    registry.model(name)
    from deploykit.monitoring.options import DriftOptions  # SciPy: drift users only

    opts = options if isinstance(options, DriftOptions) else DriftOptions.from_dict(options)
    row = {"options": opts.to_dict(), "updated_at": utcnow(), "updated_by": registry.settings.actor}

    def work(connection: sa.Connection) -> None:
        where = drift_settings.c.model == name
        if not connection.execute(drift_settings.update().where(where).values(**row)).rowcount:
            connection.execute(drift_settings.insert().values(model=name, **row))

    run_in_transaction(registry.engine, work)
    return opts


def drift_options(registry: Registry, name: str) -> DriftOptions:
    """Model ``name``'s drift options; the defaults if none were set."""
    from deploykit.monitoring.options import DriftOptions

    with registry.engine.connect() as connection:
        stored = connection.execute(
            sa.select(drift_settings.c.options).where(drift_settings.c.model == name)
        ).scalar()
    return DriftOptions() if stored is None else DriftOptions.from_dict(stored)


def claim_check(engine: sa.Engine, rule_id: int, now: float, interval: float) -> bool:
    """Take the rule's evaluation for this round; False if another replica holds it."""
    c = alert_rules.c
    stmt = (
        alert_rules.update()
        .where(c.id == rule_id, sa.or_(c.next_check_at.is_(None), c.next_check_at <= now))
        .values(next_check_at=now + interval)
    )
    return bool(run_in_transaction(engine, lambda conn: conn.execute(stmt).rowcount))


def claim_fire(engine: sa.Engine, rule_id: int, now: float, cooldown: float) -> bool:
    """Take the right to act on a breach; False if the rule fired within its cooldown."""
    c = alert_rules.c
    stmt = (
        alert_rules.update()
        .where(
            c.id == rule_id, sa.or_(c.last_fired_at.is_(None), c.last_fired_at <= now - cooldown)
        )
        .values(last_fired_at=now)
    )
    return bool(run_in_transaction(engine, lambda conn: conn.execute(stmt).rowcount))
