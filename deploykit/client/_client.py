"""``deploykit.Client``: the registry protocol over HTTP, plus predict/metrics/feedback.

Same operations, arguments and return types as :class:`deploykit.Registry`, so a
front end takes either. Errors come back as the class the server raised: the
error JSON names it and :func:`deploykit.errors.error_class` finds it.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import orjson

from deploykit._closing import Closing
from deploykit._push import Progress, PushOptions, split_options
from deploykit._token import find_token
from deploykit.client._payload import encode_predict_body
from deploykit.client.results import Prediction
from deploykit.errors import (
    ArtifactIntegrityError,
    ConfigurationError,
    DeployKitError,
    DeployKitWarning,
    ServerUnreachableError,
    SignatureError,
    StorageError,
    error_class,
)
from deploykit.records import Alias, CardRevision, Event, Experiment, ModelInfo, ModelVersion
from deploykit.settings import Settings

if TYPE_CHECKING:
    from typing import Unpack

    import pandas as pd

    from deploykit.monitoring.compare import Comparison
    from deploykit.monitoring.options import DriftOptions
    from deploykit.monitoring.performance import EstimatedPerformance
    from deploykit.monitoring.results import DriftTimeline
    from deploykit.monitoring.rules import AlertOptions, AlertRule

__all__ = ["Client"]

DEFAULT_URL = "http://127.0.0.1:8765"
_CHUNK = 1 << 20


def _seg(value: object) -> str:
    return quote(str(value), safe="")


class Client(Closing):
    """A deploykit server, spoken to over HTTP.

    ``url`` defaults to ``DEPLOYKIT_SERVER_URL``, then ``http://127.0.0.1:8765``;
    ``token`` to ``DEPLOYKIT_TOKEN``, then the local admin token a server wrote to
    ``<home>/token`` on its first start (as Jupyter does).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.url = _server_url(url or self.settings.server_url or DEFAULT_URL)
        self.token = find_token(self.settings, token)
        headers = {"user-agent": "deploykit-client"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=headers)
        self._acting_for: str | None = None

    def on_behalf_of(self, person: str) -> Client:
        """This client acting for ``person``, sharing its connections (close only the original).

        For a front end that holds one token for several people (the JupyterLab sidebar's
        Jupyter server): the server records "<token name> for <person>" as the actor.
        """
        if not isinstance(person, str) or not person.strip():
            raise ConfigurationError(
                f"The 'person' parameter must be a name. Got {person!r} instead."
            )
        clone = copy.copy(self)
        clone._acting_for = person.strip()
        return clone

    # ------------------------------------------------------------------ plumbing
    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self._acting_for is not None:
            headers = kwargs.setdefault("headers", {})
            headers["x-deploykit-on-behalf-of"] = self._acting_for.encode("utf-8")
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StorageError(
                f"The deploykit server at {self.url} did not answer {method} {path} in time "
                f"({type(exc).__name__}). Retry, or raise the client's timeout."
            ) from None
        except httpx.TransportError as exc:
            where = (
                "check DEPLOYKIT_SERVER_URL"
                if self.settings.server_url
                else "or set DEPLOYKIT_SERVER_URL to its address"
            )
            raise ServerUnreachableError(
                f"Cannot reach the deploykit server at {self.url} ({exc}). Start one with "
                f"`deploykit serve`, {where}."
            ) from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        if "json" in kwargs:
            kwargs["content"] = orjson.dumps(kwargs.pop("json"), option=orjson.OPT_SERIALIZE_NUMPY)
            kwargs.setdefault("headers", {})["content-type"] = "application/json"
        return orjson.loads(self._send(method, path, **kwargs).content)

    # ------------------------------------------------------------------ reads
    def models(self) -> list[ModelInfo]:
        return [ModelInfo.from_dict(d) for d in self._json("GET", "/v1/models")]

    def model(self, name: str) -> ModelInfo:
        return ModelInfo.from_dict(self._json("GET", f"/v1/models/{_seg(name)}"))

    def versions(self, name: str) -> list[ModelVersion]:
        data = self._json("GET", f"/v1/models/{_seg(name)}/versions")
        return [ModelVersion.from_dict(d) for d in data]

    def version(self, name: str, ref: int | str = "production") -> ModelVersion:
        data = self._json("GET", f"/v1/models/{_seg(name)}/versions/{_seg(ref)}")
        return ModelVersion.from_dict(data)

    def aliases(self, name: str) -> list[Alias]:
        return [Alias.from_dict(d) for d in self._json("GET", f"/v1/models/{_seg(name)}/aliases")]

    def events(
        self,
        name: str | None = None,
        *,
        limit: int = 100,
        since: datetime | None = None,
        action: str | None = None,
    ) -> list[Event]:
        params: dict[str, Any] = {"limit": limit}
        if name is not None:
            params["model"] = name
        if since is not None:
            params["since"] = since.isoformat()
        if action is not None:
            params["action"] = action
        return [Event.from_dict(d) for d in self._json("GET", "/v1/events", params=params)]

    def last_event_id(self) -> int:
        return int(self._json("GET", "/v1/events/last")["id"])

    # ------------------------------------------------------------------ alias moves
    def deploy(
        self,
        name: str,
        version: int | str,
        *,
        alias: str = "production",
        reason: str | None = None,
    ) -> Alias:
        body = {"version": version, "alias": alias, "reason": reason}
        return Alias.from_dict(self._json("POST", f"/v1/models/{_seg(name)}/deploy", json=body))

    def rollback(
        self,
        name: str,
        *,
        to: int | None = None,
        alias: str = "production",
        reason: str | None = None,
        action: str = "rollback",
        if_current: int | None = None,
    ) -> Alias:
        body = {
            "to": to,
            "alias": alias,
            "reason": reason,
            "action": action,
            "if_current": if_current,
        }
        return Alias.from_dict(self._json("POST", f"/v1/models/{_seg(name)}/rollback", json=body))

    # ------------------------------------------------------------------ push
    def push(
        self, model: Any, name: str, *, format: str = "joblib", **options: Unpack[PushOptions]
    ) -> ModelVersion:
        """Serialize ``model`` here, stream it to the server, and register the version.

        ``progress(sent_bytes, total_bytes)`` is called as the upload goes. The server
        hashes the bytes as they arrive and refuses them if they do not match.
        """
        from deploykit.registry.names import check_model_name
        from deploykit.serialization import dump, warn_if_pickle

        check_model_name(name)
        fields, deploy, progress = split_options(options, call="push")
        warn_if_pickle(format)
        draft = self._draft(model, format, fields)
        with tempfile.TemporaryDirectory(prefix="deploykit-push-") as tmp:
            path = Path(tmp) / f"model.{format}"
            with open(path, "wb") as f:
                dump(model, f, format=format)
            draft = self._compiled(model, draft, fields.get("X"), Path(tmp))
            return self._upload_and_register(name, draft, path, deploy=deploy, progress=progress)

    def push_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        format: str | None = None,
        **options: Unpack[PushOptions],
    ) -> ModelVersion:
        """Push an already-serialized model file (its own bytes are uploaded)."""
        from deploykit.registry.names import check_model_name
        from deploykit.serialization import detect_format, load, model_file, warn_if_pickle

        check_model_name(name)
        fields, deploy, progress = split_options(options, call="push_file")
        path = model_file(path)  # the same one-line error as the embedded registry
        format = format or detect_format(path)
        warn_if_pickle(format)
        model = load(path, format=format, trusted=self.settings.skops_trusted)
        draft = self._draft(model, format, fields)
        with tempfile.TemporaryDirectory(prefix="deploykit-push-") as tmp:
            draft = self._compiled(model, draft, fields.get("X"), Path(tmp))
            return self._upload_and_register(name, draft, path, deploy=deploy, progress=progress)

    def _compiled(self, model: Any, draft: Any, X: Any, folder: Path) -> Any:
        """``draft`` with its runtime; a compiled (ONNX) artifact is uploaded here, beside
        the original, so the server stores both (see :mod:`deploykit.compile`)."""
        from deploykit._json import json_safe
        from deploykit.compile import compile_for_push

        compiled = compile_for_push(model, draft.signature, X, self.settings)
        info = compiled.info.to_dict()
        if compiled.onnx is not None:
            path = folder / "model.onnx"
            path.write_bytes(compiled.onnx)
            info.update(digest=self._upload(path, None), size=len(compiled.onnx))
        return draft.with_runtime(json_safe(info))

    def _draft(self, model: Any, format: str, fields: dict[str, Any]) -> Any:
        from deploykit.registry.drafts import prepare_draft

        fields["author"] = fields.get("author") or self.settings.actor
        return prepare_draft(model, format=format, **fields)

    def _upload_and_register(
        self, name: str, draft: Any, path: Path, *, deploy: bool, progress: Progress | None
    ) -> ModelVersion:
        digest = self._upload(path, progress)
        size = path.stat().st_size
        body = {"draft": draft.with_artifact(digest, size).to_dict(), "deploy": deploy}
        data = self._json("POST", f"/v1/models/{_seg(name)}/versions", json=body)
        for message in data.pop("warnings", None) or []:
            warnings.warn(message, DeployKitWarning, stacklevel=3)
        return ModelVersion.from_dict(data)

    def _upload(self, path: Path, progress: Progress | None) -> str:
        """Stream the file at ``path`` to the server's artifact store; its digest."""
        digest = "sha256:" + _sha256(path)
        size = path.stat().st_size
        stored = self._json(
            "POST",
            "/v1/artifacts",
            content=_chunks(path, size, progress),
            headers={
                "content-type": "application/octet-stream",
                "content-length": str(size),
                "x-content-digest": digest,
            },
        )
        if stored["digest"] != digest:  # the server checks too; this guards a broken proxy
            raise ArtifactIntegrityError(
                f"The server stored {stored['digest']} for an upload of {digest}. Push again."
            )
        return digest

    # ------------------------------------------------------------------ cards
    def card(
        self,
        name: str,
        version: int | str = "production",
        *,
        revision: int | None = None,
        format: str = "markdown",
    ) -> str:
        """The model card of ``version`` (see ``Registry.card``), asked for by ``Accept``."""
        from deploykit.cards.document import check_format

        accept = "text/html" if check_format(format) == "html" else "text/markdown"
        params = {} if revision is None else {"revision": revision}
        path = f"/v1/models/{_seg(name)}/versions/{_seg(version)}/card"
        response = self._send("GET", path, params=params, headers={"accept": accept})
        return response.text

    def amend_card(
        self,
        name: str,
        version: int | str,
        fields: Mapping[str, Any],
        *,
        reason: str | None = None,
    ) -> CardRevision:
        """A new revision of the card of ``version`` (see ``Registry.amend_card``)."""
        path = f"/v1/models/{_seg(name)}/versions/{_seg(version)}/card"
        body = {"fields": dict(fields) if isinstance(fields, Mapping) else fields, "reason": reason}
        return CardRevision.from_dict(self._json("POST", path, json=body))

    def lineage(self, name: str, version: int | str = "production") -> dict[str, Any] | None:
        """What ``Registry.lineage`` returns, from the server."""
        path = f"/v1/models/{_seg(name)}/versions/{_seg(version)}/lineage"
        data = self._json("GET", path)
        return data if data else None

    # ------------------------------------------------------------------ artifacts
    def artifact_path(self, name: str, ref: int | str = "production") -> Path:
        """A local copy of the version's artifact, verified against its digest."""
        version = self.version(name, ref)
        return self._download(version, version.digest)

    def compiled_path(self, name: str, ref: int | str = "production") -> Path | None:
        """A local copy of the version's compiled (ONNX) artifact, verified against its
        digest; None if the version runs with scikit-learn."""
        version = self.version(name, ref)
        runtime = version.runtime or {}
        if runtime.get("runtime") != "onnx" or not runtime.get("digest"):
            return None
        return self._download(version, str(runtime["digest"]))

    def _download(self, version: ModelVersion, digest: str) -> Path:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser()
        folder = cache / "deploykit" / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / digest.replace(":", "-")
        if final.is_file() and "sha256:" + _sha256(final) == digest:
            return final
        part = final.with_suffix(f".{os.getpid()}.part")
        hasher = hashlib.sha256()
        try:
            with self._http.stream("GET", f"/v1/artifacts/{digest}") as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_from(response)
                with open(part, "wb") as f:
                    for chunk in response.iter_bytes(_CHUNK):
                        hasher.update(chunk)
                        f.write(chunk)
        except httpx.TransportError as exc:
            part.unlink(missing_ok=True)
            raise StorageError(f"Downloading {version.ref} from {self.url} failed: {exc}") from None
        found = "sha256:" + hasher.hexdigest()
        if found != digest:
            part.unlink(missing_ok=True)
            raise ArtifactIntegrityError(
                f"The bytes downloaded for {version.ref} hash to {found}, not {digest} "
                "as the registry recorded. Nothing was loaded; download again."
            )
        os.replace(part, final)
        return final

    def load(self, name: str, ref: int | str = "production") -> Any:
        """Download, verify and deserialize a version, as ``Registry.load`` does."""
        from deploykit.serialization import check_environment, load

        version = self.version(name, ref)
        path = self.artifact_path(name, version.version)
        model = load(path, format=version.format, trusted=self.settings.skops_trusted)
        check_environment(version.environment, model_ref=version.ref)
        return model

    # ------------------------------------------------------------------ serving
    def predict(
        self,
        name: str,
        data: Any,
        *,
        version: int | None = None,
        proba: bool = False,
        request_id: str | None = None,
    ) -> Prediction:
        """Predictions of the ``production`` version (or ``version``) for ``data``.

        ``data`` is a DataFrame, a 2-D array or list of rows, a list of records or a
        dict of columns. ``request_id`` is sent as ``X-Request-ID`` for tracing; the
        answer's ``request_id`` is the server's own, the one :meth:`feedback` takes.
        """
        path = f"/v1/models/{_seg(name)}"
        if version is not None:
            path += f"/versions/{_seg(version)}"
        headers = {"content-type": "application/json"}
        if request_id:
            headers["x-request-id"] = request_id
        response = self._send(
            "POST",
            f"{path}/predict",
            content=encode_predict_body(data),
            headers=headers,
            params={"proba": "true"} if proba else None,
        )
        return Prediction.from_dict(orjson.loads(response.content))

    def metrics(
        self,
        name: str,
        *,
        window: int = 3600,
        step: int | None = None,
        version: int | None = None,
        since: datetime | str | float | None = None,
        until: datetime | str | float | None = None,
    ) -> dict[str, Any]:
        """Requests, 4xx/5xx errors, latency p50/p95/p99 and throughput: in total, per version
        and per ``step`` seconds, over [since, until) (by default the last ``window`` seconds).

        Times are datetimes, ISO 8601 strings or epoch seconds.
        """
        params = _period_params(since, until, step, version)
        if since is None:
            params["window"] = window
        return self._json("GET", f"/v1/models/{_seg(name)}/metrics", params=params)

    def drift(
        self,
        name: str,
        *,
        since: datetime | str | float | None = None,
        until: datetime | str | float | None = None,
        step: int | None = None,
        version: int | None = None,
    ) -> DriftTimeline:
        """Drift of each feature and of the predictions over [since, until) (the last 24 h by
        default), against the version's reference profile; per ``step`` seconds for charts;
        accuracy where feedback labels exist. The version is production's unless given.
        """
        from deploykit.monitoring.results import DriftTimeline

        params = _period_params(since, until, step, version)
        data = self._json("GET", f"/v1/models/{_seg(name)}/drift", params=params)
        return DriftTimeline.from_dict(data)

    def estimated_performance(
        self,
        name: str,
        *,
        since: datetime | str | float | None = None,
        until: datetime | str | float | None = None,
        step: int | None = None,
        version: int | None = None,
        confidence: float = 0.9,
    ) -> EstimatedPerformance:
        """Metrics of model ``name`` estimated from its logged scores before any label
        arrives (CBPE for classifiers, an error model for regressors), with a
        ``confidence`` band, overall and per ``step`` seconds; realized beside them where
        feedback exists; ``trusted`` False with the reasons when not to believe them."""
        from deploykit.monitoring.performance import EstimatedPerformance

        params = _period_params(since, until, step, version)
        if confidence != 0.9:
            params["confidence"] = confidence
        data = self._json("GET", f"/v1/models/{_seg(name)}/estimated", params=params)
        return EstimatedPerformance.from_dict(data)

    def drift_options(self, name: str) -> DriftOptions:
        """The drift options kept for model ``name`` (the defaults if none were set)."""
        from deploykit.monitoring.options import DriftOptions

        data = self._json("GET", f"/v1/models/{_seg(name)}/drift/options")
        return DriftOptions.from_dict(data)

    def set_drift_options(self, name: str, options: DriftOptions | dict[str, Any]) -> DriftOptions:
        """Keep ``options`` (thresholds per kind and per feature...) for model ``name``."""
        from deploykit.monitoring.options import DriftOptions

        body = options.to_dict() if isinstance(options, DriftOptions) else options
        data = self._json("PUT", f"/v1/models/{_seg(name)}/drift/options", json=body)
        return DriftOptions.from_dict(data)

    def alerts(self, name: str) -> list[AlertRule]:
        """The alert rules of model ``name``."""
        from deploykit.monitoring.rules import AlertRule

        return [
            AlertRule.from_dict(d) for d in self._json("GET", f"/v1/models/{_seg(name)}/alerts")
        ]

    def set_alert(self, name: str, rule: str, **options: Unpack[AlertOptions]) -> AlertRule:
        """Create or replace the alert rule ``rule`` of ``name`` (see deploykit.monitoring.rules).

        ``metric`` is error_rate, client_error_rate, latency_p95_ms, drift_share or
        accuracy_drop; a breach over ``window_seconds`` writes an alert event, and with
        ``rollback=True`` moves production back to the previous version.
        """
        from deploykit.monitoring.rules import AlertRule, check_options

        check_options(options, call="set_alert")  # the server fills in AlertRule's defaults
        body = {"rule": rule, **options}
        data = self._json("POST", f"/v1/models/{_seg(name)}/alerts", json=body)
        return AlertRule.from_dict(data)

    def delete_alert(self, name: str, rule: str) -> AlertRule:
        """Remove the alert rule ``rule`` of ``name``; the rule removed."""
        from deploykit.monitoring.rules import AlertRule

        data = self._json("DELETE", f"/v1/models/{_seg(name)}/alerts/{_seg(rule)}")
        return AlertRule.from_dict(data)

    # ------------------------------------------------------------------ experiments
    def shadow(
        self,
        name: str,
        version: int | str,
        *,
        share: float = 1.0,
        alias: str = "production",
        reason: str | None = None,
        wait: float | None = 30.0,
    ) -> Experiment:
        """Score ``share`` of production's requests with ``version`` too (see Registry.shadow).

        ``alias`` is the server's: it runs experiments beside the alias it serves. Returns
        once every worker of the server mirrors requests (:meth:`wait_for_workers`, up to
        ``wait`` seconds; None: at once)."""
        body = {"version": version, "share": share, "reason": reason}
        return self._experiment_call(name, "shadow", body, wait)

    def canary(
        self,
        name: str,
        version: int | str,
        *,
        percent: float = 10,
        sticky: str | None = None,
        promote_when: str | None = None,
        min_requests: int = 1000,
        max_duration: float | None = None,
        alias: str = "production",
        reason: str | None = None,
        wait: float | None = 30.0,
    ) -> Experiment:
        """Let ``version`` answer ``percent`` of production's requests (see Registry.canary);
        returns once every worker splits so (``wait``: see :meth:`shadow`)."""
        body = {
            "version": version,
            "percent": percent,
            "sticky": sticky,
            "promote_when": promote_when,
            "min_requests": min_requests,
            "max_duration": max_duration,
            "reason": reason,
        }
        return self._experiment_call(name, "canary", body, wait)

    def step(
        self, name: str, percent: float, *, reason: str | None = None, wait: float | None = 30.0
    ) -> Experiment:
        """Change the running experiment's share to ``percent`` (``wait``: see :meth:`shadow`)."""
        body = {"percent": percent, "reason": reason}
        return self._experiment_call(name, "step", body, wait)

    def promote(self, name: str, reason: str, *, wait: float | None = 30.0) -> Experiment:
        """End the running experiment and move production to its candidate."""
        return self._experiment_call(name, "promote", {"reason": reason}, wait)

    def abort(self, name: str, reason: str, *, wait: float | None = 30.0) -> Experiment:
        """End the running experiment: all traffic back to production."""
        return self._experiment_call(name, "abort", {"reason": reason}, wait)

    def _experiment_call(
        self, name: str, verb: str, body: dict[str, Any], wait: float | None
    ) -> Experiment:
        data = self._json("POST", f"/v1/models/{_seg(name)}/experiment/{verb}", json=body)
        experiment = Experiment.from_dict(data)
        if wait is not None:
            self.wait_for_workers(name, experiment, timeout=wait)
        return experiment

    def wait_for_workers(
        self, name: str, experiment: Experiment | None = None, *, timeout: float = 30.0
    ) -> list[int]:
        """Wait until every worker of the server applies ``experiment`` (by default the
        model's running one; an ended one: until none applies it); their pids.

        Each worker follows experiments on its own (next poll, after loading the
        candidate), and reports what it applies in ``GET /healthz``. Each look opens a
        new connection, so it reaches the workers in turn, until all ``workers`` of the
        server were seen applying it. Behind a load balancer with several replicas, this
        counts the workers of one replica: wait per replica.
        """
        from deploykit.errors import ExperimentNotFollowedError

        if experiment is None:
            experiment = self.experiment(name)
        wanted = None if experiment is None or experiment.state != "running" else experiment
        seen: dict[int, str | None] = {}  # pid -> what it applies, None when as wanted
        workers = 1
        deadline = time.monotonic() + timeout
        while True:
            health = self._json("GET", "/healthz", headers={"connection": "close"})
            workers = int(health.get("workers") or 1)
            mine = (health.get("experiments") or {}).get(name)
            if wanted is not None and mine and mine.get("id") == wanted.id and "error" in mine:
                raise ExperimentNotFollowedError(
                    f"Worker {health.get('pid')} of the server cannot run the {wanted.kind} of "
                    f"{name} (experiment {wanted.id}, version {wanted.candidate}), so "
                    f"production answers all its requests: {mine['error']}. Abort it "
                    f"(abort({name!r}, reason)), or fix the candidate and start it again."
                )
            seen[int(health["pid"])] = _applies(mine, wanted)
            if len(seen) >= workers and all(v is None for v in seen.values()):
                return sorted(seen)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        ready = sorted(pid for pid, v in seen.items() if v is None)
        behind = ", ".join(f"{pid} ({v})" for pid, v in sorted(seen.items()) if v is not None)
        what = (
            f"the {wanted.kind} of {name} (experiment {wanted.id}, version "
            f"{wanted.candidate}, {wanted.percent:g}%)"
            if wanted is not None
            else f"no experiment for {name}"
        )
        raise ExperimentNotFollowedError(
            f"After {timeout:g} s, {len(ready)} of the server's {workers} workers run {what}"
            + (f"; behind: {behind}" if behind else "")
            + (f"; {workers - len(seen)} never answered a look" if len(seen) < workers else "")
            + ". A worker follows on its next poll, after loading the candidate: a large "
            "model takes longer (raise the wait); GET /healthz shows what each runs."
        )

    def experiment(self, name: str) -> Experiment | None:
        """The running experiment of ``name``, else its last one, else None."""
        data = self._json("GET", f"/v1/models/{_seg(name)}/experiment")
        return None if data is None else Experiment.from_dict(data)

    def evidence(self, name: str) -> dict[str, Any] | None:
        """What the running experiment's policy test says now (None without a policy)."""
        return self._json("GET", f"/v1/models/{_seg(name)}/experiment/evidence").get("decision")

    def compare(
        self,
        name: str,
        a: int | str = "production",
        b: int | str = "candidate",
        *,
        since: datetime | str | float | None = None,
        data: pd.DataFrame | None = None,
    ) -> Comparison:
        """How versions ``a`` and ``b`` differ, on logged traffic or on ``data``."""
        import json

        from deploykit.monitoring.compare import Comparison

        path = f"/v1/models/{_seg(name)}/compare"
        if data is not None:
            split = json.loads(data.to_json(orient="split", index=False, date_format="iso"))
            body = {"a": a, "b": b, "data": {"dataframe_split": split}}
            return Comparison.from_dict(self._json("POST", path, json=body))
        params: dict[str, Any] = {"a": str(a), "b": str(b)}
        if since is not None:
            params["since"] = since.isoformat() if isinstance(since, datetime) else str(since)
        return Comparison.from_dict(self._json("GET", path, params=params))

    def feedback(self, name: str, request_id: str | Prediction, label: Any) -> dict[str, Any]:
        """Record the true ``label`` of a prediction (one label, or one per row).

        ``request_id`` is the ``request_id`` of the :class:`Prediction` (or the
        Prediction itself): the server signs it for ``name`` and takes labels for no
        other id. The server needs a token of its feedback role (``deployer`` by
        default) for labels; only labels sent with one count for alert rules.
        """
        if isinstance(request_id, Prediction):
            request_id = request_id.request_id
        body = {"request_id": request_id, "label": label}
        return self._json("POST", f"/v1/models/{_seg(name)}/feedback", json=body)

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/healthz")

    # ------------------------------------------------------------------ tokens
    def whoami(self) -> dict[str, str]:
        return self._json("GET", "/v1/whoami")

    def create_token(self, role: str, *, name: str = "") -> str:
        """A new token of ``role`` (admin only); the secret is shown this once."""
        return str(self._json("POST", "/v1/tokens", json={"role": role, "name": name})["token"])

    def tokens(self) -> list[dict[str, Any]]:
        return self._json("GET", "/v1/tokens")

    def revoke_token(self, token_id: int) -> dict[str, Any]:
        return self._json("DELETE", f"/v1/tokens/{int(token_id)}")

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"


def _period_params(since: Any, until: Any, step: int | None, version: int | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in (("since", since), ("until", until)):
        if value is not None:
            params[key] = value.isoformat() if isinstance(value, datetime) else value
    if step is not None:
        params["step"] = step
    if version is not None:
        params["version"] = version
    return params


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * _CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _chunks(path: Path, total: int, progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    if progress is not None:
        progress(0, total)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sent += len(chunk)
            yield chunk
            if progress is not None:
                progress(sent, total)


def _error_from(response: httpx.Response) -> DeployKitError:
    """The exception the server raised, rebuilt from its error JSON."""
    try:
        error = orjson.loads(response.content)["error"]
        name, message = error["type"], error["message"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        text = response.text.strip()[:300]
        cls: type[DeployKitError] = (
            StorageError if response.status_code in (502, 503, 504) else DeployKitError
        )
        return cls(f"HTTP {response.status_code} from {response.request.url}: {text}")
    cls = error_class(name)
    exc = (
        cls(message, problems=error.get("problems"))
        if issubclass(cls, SignatureError)
        else cls(message)
    )
    exc.status_code = response.status_code
    exc.request_id = error.get("request_id")
    return exc


def _server_url(url: str) -> str:
    """The server's base URL, checked now rather than at the first request."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(
            f"The deploykit server URL must start with http:// or https://. Got {url!r}; "
            f"did you mean 'http://{url}'?"
        )
    return url.removesuffix("/v1")  # the client adds /v1 itself


def _applies(mine: dict[str, Any] | None, wanted: Experiment | None) -> str | None:
    """None if a worker's ``experiments`` entry is ``wanted`` (or, wanted None, absent);
    else what it runs instead, in words."""
    if wanted is None:
        return None if not mine or "error" in mine else f"still runs experiment {mine.get('id')}"
    if not mine:
        return "runs none yet"
    if mine.get("id") != wanted.id:
        return f"runs experiment {mine.get('id')}"
    if mine.get("percent") != wanted.percent:
        return f"at {mine.get('percent')}%"
    return None
