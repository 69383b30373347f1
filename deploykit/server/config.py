"""How one server runs: address, workers, limits, batching, logging, auth.

:class:`ServerConfig` is the server's half of the configuration; where the
registry lives is :class:`deploykit.settings.Settings`. Both are plain frozen
dataclasses, so the CLI maps flags onto them and ``run`` hands them to worker
processes as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from deploykit._fields import from_known, replace_fields
from deploykit.errors import ConfigurationError

__all__ = ["ServerConfig"]

_ENV_PREFIX = "DEPLOYKIT_SERVE_"
_ROLES = ("viewer", "deployer", "admin")  # deploykit.server.auth.ROLES, without its imports


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """Server options. Every field can also be set as ``DEPLOYKIT_SERVE_<FIELD>``."""

    host: str = "127.0.0.1"
    port: int = 8765
    workers: int = 1
    #: largest JSON body (predict, deploy, ...) accepted; larger ones get 413
    max_body_bytes: int = 16 * 1024 * 1024
    #: most rows in one predict request; more get 413 before any DataFrame is built
    max_rows: int = 100_000
    #: most column names (or record keys) in one predict request; a model whose signature
    #: is wider takes twice its width. More get 413 before anything is checked one by one
    max_columns: int = 1_000
    #: most values (rows x columns, column names included) in one predict request. It is
    #: counted roughly from the raw body while it arrives, so a request over it costs the
    #: worker no JSON decoding; decoding what it admits holds the worker's event loop for
    #: ~0.1-0.6 us a value, so lower it if your clients send small requests
    max_cells: int = 500_000
    #: largest artifact upload accepted (streamed to the store, never held in memory)
    max_upload_bytes: int = 8 * 1024**3
    #: rows merged into one predict call at most
    batch_max_size: int = 256
    #: how long a batch may wait for requests already on their way; a lone request never waits
    batch_max_wait_ms: float = 2.0
    #: a version whose warm 1-row predict takes at least this long runs in a worker thread
    #: with micro-batching; cheaper ones run inline on the event loop (a thread hop costs more)
    inline_predict_max_ms: float = 1.0
    #: a compiled (ONNX) version's requests of a size that took at least this long (eight
    #: times running) are predicted in a worker thread, so the event loop reads the next
    #: requests meanwhile (onnxruntime releases the GIL): 100-row requests to a forest.
    #: An inline scikit-learn version leaves the loop from ``inline_predict_max_ms``
    offload_predict_ms: float = 0.25
    #: worker threads for those predicts, per compiled version; 0: the CPUs this process
    #: may use divided by ``workers`` (at least 1)
    predict_threads: int = 0
    #: alias served by ``POST /v1/models/{name}/predict``
    alias: str = "production"
    #: share of predict requests written to the prediction log (0 turns logging off)
    log_sample_rate: float = 1.0
    #: seconds between prediction-log flushes (and a flush at shutdown)
    log_flush_seconds: float = 5.0
    #: predict needs a token (any role) when true
    predict_requires_token: bool = False
    #: feedback needs a token of ``feedback_role`` when true; false accepts anonymous labels
    #: too (a single-user machine), which the drift view shows but alert rules never act on
    feedback_requires_token: bool = True
    #: the least role whose labels are trusted; labels can roll production back through an
    #: ``accuracy_drop`` rule, so by default the role that may move production
    feedback_role: str = "deployer"
    #: artifact formats this server loads (comma separated in the environment). A pickle
    #: (``joblib``) runs code when loaded; ``onnx,skops`` is the safe team setting: compiled
    #: versions run from their verified ONNX artifact, others from skops, nothing unpickled
    formats: tuple[str, ...] = ("onnx", "skops", "joblib")
    #: seconds between checks of the registry for moved aliases
    poll_interval: float = 0.25
    #: width of a telemetry time bucket, seconds
    telemetry_bucket_seconds: int = 10
    #: seconds between telemetry flushes to the registry database
    telemetry_flush_seconds: float = 2.0
    #: days telemetry keeps its time buckets; older ones are folded into all-time totals
    #: (``/metrics`` counters never go down). 0 keeps every bucket
    telemetry_retention_days: float = 30.0
    #: seconds between evaluations of the alert rules (0 turns this worker's evaluator off)
    alert_interval_seconds: float = 30.0
    #: the model MLflow's ``/invocations`` scores (empty: the only model served); every
    #: model is also at ``/models/{name}/invocations``
    model: str = ""
    #: port of the Open Inference v2 gRPC service (0: off); needs ``deploykit[grpc]``
    grpc_port: int = 0
    #: uvicorn log level
    log_level: str = "warning"

    def __post_init__(self) -> None:
        def need(ok: bool, field: str, expected: str) -> None:
            if not ok:
                raise ConfigurationError(
                    f"The '{field}' server option ({_ENV_PREFIX}{field.upper()}) must be "
                    f"{expected}. Got {getattr(self, field)!r} instead."
                )

        need(isinstance(self.port, int) and 0 <= self.port <= 65535, "port", "an int in [0, 65535]")
        need(
            isinstance(self.grpc_port, int) and 0 <= self.grpc_port <= 65535,
            "grpc_port",
            "an int in [0, 65535] (0: no gRPC)",
        )
        # both would bind (gRPC with SO_REUSEPORT first), then HTTP fails after a banner
        # that announced gRPC on it
        need(
            not self.grpc_port or self.grpc_port != self.port,
            "grpc_port",
            f"a port other than the HTTP port ({self.port})",
        )
        need(isinstance(self.workers, int) and self.workers >= 1, "workers", "an int >= 1")
        need(self.max_body_bytes >= 1024, "max_body_bytes", "at least 1024")
        for field in ("max_rows", "max_columns", "max_cells"):
            value = getattr(self, field)
            need(isinstance(value, int) and value >= 1, field, "an int >= 1")
        need(self.max_upload_bytes >= 1024, "max_upload_bytes", "at least 1024")
        need(
            isinstance(self.batch_max_size, int) and self.batch_max_size >= 1,
            "batch_max_size",
            "an int >= 1",
        )
        need(0 <= self.batch_max_wait_ms <= 1000, "batch_max_wait_ms", "a float in [0, 1000]")
        need(self.inline_predict_max_ms >= 0, "inline_predict_max_ms", "a float >= 0")
        need(self.offload_predict_ms >= 0, "offload_predict_ms", "a float >= 0")
        need(
            isinstance(self.predict_threads, int) and self.predict_threads >= 0,
            "predict_threads",
            "an int >= 0 (0: CPUs / workers)",
        )
        need(0.0 <= self.log_sample_rate <= 1.0, "log_sample_rate", "a float in [0, 1]")
        need(self.log_flush_seconds > 0, "log_flush_seconds", "a float > 0")
        need(0 < self.poll_interval <= 0.5, "poll_interval", "a float in (0, 0.5] seconds")
        need(
            isinstance(self.telemetry_bucket_seconds, int) and self.telemetry_bucket_seconds >= 1,
            "telemetry_bucket_seconds",
            "an int >= 1",
        )
        need(self.telemetry_flush_seconds > 0, "telemetry_flush_seconds", "a float > 0")
        need(self.telemetry_retention_days >= 0, "telemetry_retention_days", "a float >= 0")
        need(self.alert_interval_seconds >= 0, "alert_interval_seconds", "a float >= 0")
        need(
            self.feedback_role in _ROLES,
            "feedback_role",
            f"one of {', '.join(map(repr, _ROLES))}",
        )
        self._check_formats()

    def _check_formats(self) -> None:
        from deploykit.serialization import FORMATS as PUSHED

        FORMATS = ("onnx", *PUSHED)  # onnx: the compiled artifact derived at push

        formats = self.formats
        if isinstance(formats, str):
            formats = tuple(f.strip() for f in formats.split(",") if f.strip())
        elif isinstance(formats, (list, tuple)):  # from JSON (worker processes): a list
            formats = tuple(formats)
        unknown = [f for f in formats if f not in FORMATS] if isinstance(formats, tuple) else []
        if not isinstance(formats, tuple) or not formats or unknown:
            got = ",".join(map(str, formats)) if isinstance(formats, tuple) else formats
            raise ConfigurationError(
                f"The 'formats' server option ({_ENV_PREFIX}FORMATS) must be a comma-separated "
                f"list of artifact formats among {', '.join(FORMATS)}, such as 'skops'. "
                f"Got {got!r} instead."
            )
        object.__setattr__(self, "formats", tuple(dict.fromkeys(formats)))

    @property
    def threads_per_version(self) -> int:
        """``predict_threads``, or the CPUs this process may use shared among the workers."""
        if self.predict_threads:
            return self.predict_threads
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):  # not on Linux
            cpus = os.cpu_count() or 1
        return max(1, cpus // self.workers)

    @property
    def url(self) -> str:
        """The base URL a local client uses to reach this server."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def replace(self, **changes: Any) -> ServerConfig:
        return replace_fields(self, changes, what="server option", known_as="known options are")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerConfig:
        return from_known(cls, data)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServerConfig:
        """Defaults, then ``DEPLOYKIT_SERVE_*`` variables, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(_ENV_PREFIX + field.name.upper())
            if raw is None or not raw.strip():
                continue
            values[field.name] = _parse(field.name, raw.strip(), type(field.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _parse(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if kind is bool:
            lowered = raw.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        return kind(raw)
    except ValueError:
        raise ConfigurationError(
            f"The setting {_ENV_PREFIX}{name.upper()} must be {_KIND_NAMES[kind]}. "
            f"Got {raw!r} instead."
        ) from None


_KIND_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "text",
    tuple: "a comma-separated list",
}
