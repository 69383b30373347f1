"""The experiment routes: shadow, canary, step, promote, abort, evidence, compare.

    GET  /v1/models/{name}/experiment              the running (else last) experiment, or null
    POST /v1/models/{name}/experiment/shadow       (deployer) {version, share, reason}
    POST /v1/models/{name}/experiment/canary       (deployer) {version, percent, sticky,
                                                   promote_when, min_requests, max_duration}
    POST /v1/models/{name}/experiment/step         (deployer) {percent, reason}
    POST /v1/models/{name}/experiment/promote      (deployer) {reason}
    POST /v1/models/{name}/experiment/abort        (deployer) {reason}
    GET  /v1/models/{name}/experiment/evidence     what the policy's test says now
    GET  /v1/models/{name}/compare?a=&b=&since=    two versions on logged traffic
    POST /v1/models/{name}/compare                 (deployer) the same on rows sent

A shadow or canary starts only once its candidate loads and warms on this worker (a
candidate that cannot serve is refused, nothing started); a promotion moves the alias
here at once, the other workers follow within ``poll_interval``.
"""

from __future__ import annotations

from typing import Any

from deploykit.errors import ArtifactError, DeployKitError, InvalidInputError
from deploykit.server.endpoint import Call, field, thread

__all__ = [
    "abort",
    "canary",
    "compare_data",
    "compare_logged",
    "evidence",
    "get_experiment",
    "promote",
    "shadow",
    "step",
]


async def _refresh(call: Call) -> None:
    await thread(call.state.host.follow_experiments)


async def _loadable(call: Call, version: int | str, kind: str) -> int:
    state = call.state
    record = await thread(state.registry.version, call.name, version)
    try:
        await thread(state.host.prepare, call.name, record.version)
    except DeployKitError as exc:
        if not isinstance(exc, ArtifactError):
            raise
        raise type(exc)(
            f"{record.ref} cannot be served here, so no {kind} started: {exc}"
        ) from None
    return record.version


async def get_experiment(call: Call) -> Any:
    return await thread(call.state.registry.experiment, call.name)


async def shadow(call: Call) -> Any:
    body = await call.json()
    return await _start(call, body, "shadow", share=field(body, "share", (int, float), 1.0))


async def canary(call: Call) -> Any:
    body = await call.json()
    return await _start(
        call,
        body,
        "canary",
        percent=field(body, "percent", (int, float), 10),
        sticky=field(body, "sticky", (str,), None),
        promote_when=field(body, "promote_when", (str,), None),
        min_requests=field(body, "min_requests", (int,), 1000),
        max_duration=field(body, "max_duration", (int, float), None),
    )


async def _start(call: Call, body: Any, kind: str, **options: Any) -> Any:
    """Start a shadow or a canary of the body's version, once that version loads here."""
    version = await _loadable(call, field(body, "version", (int, str)), kind)
    reg = call.state.registry_as(call.actor)
    begin = reg.shadow if kind == "shadow" else reg.canary
    started = await thread(
        begin,
        call.name,
        version,
        alias=call.state.config.alias,
        reason=field(body, "reason", (str,), None),
        **options,
    )
    await _refresh(call)
    return started


async def step(call: Call) -> Any:
    body = await call.json()
    reg = call.state.registry_as(call.actor)
    changed = await thread(
        reg.step,
        call.name,
        field(body, "percent", (int, float)),
        reason=field(body, "reason", (str,), None),
    )
    await _refresh(call)
    return changed


async def promote(call: Call) -> Any:
    state = call.state
    body = await call.json()
    reason = field(body, "reason", (str,))
    running = await thread(state.registry.experiment, call.name)
    if running is not None and running.running:
        await _loadable(call, running.candidate, "promotion")
    ended = await thread(state.registry_as(call.actor).promote, call.name, reason)
    await thread(state.host.prepare, call.name, ended.candidate, route=True)
    await _refresh(call)
    return ended


async def abort(call: Call) -> Any:
    body = await call.json()
    reason = field(body, "reason", (str,))
    ended = await thread(call.state.registry_as(call.actor).abort, call.name, reason)
    await _refresh(call)
    return ended


async def evidence(call: Call) -> Any:
    """The running experiment's decision now (without acting on it), or its last one."""
    from deploykit.monitoring.evidence import judge

    state = call.state
    experiment = await thread(state.registry.experiment, call.name)
    if experiment is None or not experiment.running or not experiment.promote_when:
        return {
            "experiment": None if experiment is None else experiment.to_dict(),
            "decision": None if experiment is None else (experiment.statistics or None),
        }
    await thread(state.telemetry.flush)
    await thread(state.predlog.flush)
    decision = await thread(judge, state.registry, experiment)
    return {"experiment": experiment.to_dict(), "decision": decision.to_dict()}


def _ref(value: str | None, default: str) -> int | str:
    if value is None or value == "":
        return default
    return int(value) if value.isascii() and value.isdigit() else value


async def compare_logged(call: Call) -> Any:
    from deploykit.monitoring.periods import parse_time

    state = call.state
    q = call.request.query_params
    await thread(state.telemetry.flush)
    await thread(state.predlog.flush)
    return await thread(
        state.registry.compare,
        call.name,
        _ref(q.get("a"), "production"),
        _ref(q.get("b"), "candidate"),
        since=parse_time(q.get("since"), "since"),
    )


async def compare_data(call: Call) -> Any:
    """Both versions score the rows sent (any predict body format); deployer, as it loads
    versions no alias may point at."""
    import pandas as pd

    from deploykit.server.payloads import parse_body

    state = call.state
    body = await call.json()
    a, b = field(body, "a", (int, str), "production"), field(body, "b", (int, str), "candidate")
    data = field(body, "data", (dict, list))
    parsed = parse_body(data if isinstance(data, dict) else {"dataframe_records": data})
    if parsed.shape == "records":
        frame = pd.DataFrame.from_records(parsed.data)
    elif parsed.shape == "columns":
        frame = pd.DataFrame(parsed.data)
    elif parsed.columns:
        frame = pd.DataFrame(parsed.data, columns=parsed.columns)
    else:
        raise InvalidInputError(
            "The field 'data' must name its columns: send dataframe_split with 'columns', "
            "or dataframe_records."
        )
    # both versions score in this process from their original artifact: a server that
    # does not load a format (a pickle, DEPLOYKIT_SERVE_FORMATS) must not load it here either
    a, b = await thread(_servable, call, a), await thread(_servable, call, b)
    return await thread(state.registry.compare, call.name, a, b, data=frame)


def _servable(call: Call, ref: int | str) -> int:
    from deploykit.monitoring.compare import resolve_version
    from deploykit.server.models import check_format

    registry = call.state.registry
    record = registry.version(call.name, resolve_version(registry, call.name, ref))
    try:
        check_format(record, call.state.config)
    except DeployKitError as exc:
        raise type(exc)(
            f"{exc} Comparing on rows sent loads each version's original artifact; compare "
            f"them on their logged shadow or canary traffic instead (GET "
            f"/v1/models/{call.name}/compare)."
        ) from None
    return record.version
