"""One settings object, read from ``DEPLOYKIT_*`` environment variables.

================================  ====================================================
variable                          default
================================  ====================================================
``DEPLOYKIT_HOME``                ``~/.deploykit``
``DEPLOYKIT_DATABASE_URL``        ``sqlite:///<home>/registry.db`` (any SQLAlchemy URL)
``DEPLOYKIT_ARTIFACTS_URL``       ``<home>/artifacts`` (a folder or any fsspec URL)
``DEPLOYKIT_SERVER_URL``          unset: the embedded, in-process registry
``DEPLOYKIT_TOKEN``               unset: read ``<home>/token`` when talking to a server
``DEPLOYKIT_ACTOR``               the login name; recorded in the audit log
``DEPLOYKIT_SKOPS_TRUSTED``       extra types trusted when loading skops files,
                                  comma separated (``mypkg.MyEstimator,...``)
``DEPLOYKIT_FSYNC``               ``1``: flush artifacts to disk before a push commits
``DEPLOYKIT_S3_ENDPOINT_URL``     unset: AWS itself; else an S3-compatible server
                                  (``http://127.0.0.1:7480`` for a Ceph RGW, MinIO...)
``DEPLOYKIT_COMPILE``             ``1``: convert each pushed model to ONNX and verify it
                                  (``0``: every version serves with scikit-learn)
``DEPLOYKIT_COMPILE_TOLERANCE``   ``1e-5``: largest absolute difference from scikit-learn
                                  a compiled model's probabilities may show
``DEPLOYKIT_WEBHOOK_ALLOW_NETWORKS`` unset: alert webhooks reach public addresses only;
                                  else also these networks, comma separated
                                  (``10.20.0.0/16,127.0.0.1/32``)
================================  ====================================================

Credentials for ``s3://`` stores come from the usual AWS chain, never from deploykit's
own settings: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (and
``AWS_SESSION_TOKEN``), ``AWS_PROFILE`` and ``~/.aws``, or the instance's role.
:meth:`Settings.storage_options` is what the artifact store and the prediction logs
hand to fsspec.

CLI flags and traitlets map onto the same fields; :meth:`Settings.replace` makes
a copy with some of them changed. A malformed value fails fast, quoting the key.
"""

from __future__ import annotations

import dataclasses
import getpass
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploykit._fields import replace_fields
from deploykit.errors import ConfigurationError

__all__ = ["Settings"]

_PREFIX = "DEPLOYKIT_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, as in some containers
        return "unknown"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where deploykit keeps its data and whom it talks to."""

    home: Path
    database_url: str
    artifacts_url: str
    server_url: str | None = None
    token: str | None = None
    actor: str = dataclasses.field(default_factory=_default_actor)
    skops_trusted: tuple[str, ...] = ()
    fsync: bool = True
    s3_endpoint_url: str | None = None
    webhook_allow_networks: tuple[str, ...] = ()
    compile: bool = True
    compile_tolerance: float = 1e-5

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (``os.environ`` by default)."""
        env = os.environ if environ is None else environ

        def get(key: str) -> str | None:
            value = env.get(_PREFIX + key)
            return value.strip() if value is not None and value.strip() else None

        home = Path(get("HOME") or "~/.deploykit").expanduser()
        database_url = get("DATABASE_URL") or f"sqlite:///{home / 'registry.db'}"
        artifacts_url = get("ARTIFACTS_URL") or str(home / "artifacts")
        trusted = tuple(t.strip() for t in (get("SKOPS_TRUSTED") or "").split(",") if t.strip())
        return cls(
            home=home,
            database_url=database_url,
            artifacts_url=artifacts_url,
            server_url=get("SERVER_URL"),
            token=get("TOKEN"),
            actor=get("ACTOR") or _default_actor(),
            skops_trusted=trusted,
            fsync=_parse_bool("FSYNC", get("FSYNC"), default=True),
            s3_endpoint_url=get("S3_ENDPOINT_URL"),
            webhook_allow_networks=_parse_networks(
                "WEBHOOK_ALLOW_NETWORKS", get("WEBHOOK_ALLOW_NETWORKS")
            ),
            compile=_parse_bool("COMPILE", get("COMPILE"), default=True),
            compile_tolerance=_parse_tolerance(get("COMPILE_TOLERANCE")),
        )

    def storage_options(self, url: str | None = None) -> dict[str, Any]:
        """fsspec options for ``url`` (default: the artifact store): empty unless it is S3.

        Listings are not cached: other processes add objects (pushes, prediction logs)
        that a cached listing would hide. Keys come from the AWS chain (module doc).
        """
        url = self.artifacts_url if url is None else url
        if not url.startswith(("s3://", "s3a://")):
            return {}
        options: dict[str, Any] = {"use_listings_cache": False}
        if self.s3_endpoint_url:
            options["endpoint_url"] = self.s3_endpoint_url
        return options

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied; unknown field names raise ConfigurationError."""
        return replace_fields(self, changes, what="setting", known_as="known settings are")

    def ensure_home(self) -> Path:
        """Create the home folder if needed; fail with a clear message if it is unusable."""
        from deploykit._files import FOLDER_MODE, private_folder, tighten

        try:
            private_folder(self.home)  # 0700: nothing in it is for other accounts
            tighten(self.home, FOLDER_MODE)
            probe = self.home / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigurationError(
                f"The deploykit home folder '{self.home}' is not writable "
                f"({exc.strerror or exc}). Set {_PREFIX}HOME to a folder you can write to."
            ) from None
        return self.home


def _parse_networks(key: str, value: str | None) -> tuple[str, ...]:
    networks = []
    for item in (value or "").split(","):
        if not item.strip():
            continue
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ConfigurationError(
                f"The setting {_PREFIX}{key} must be a comma-separated list of networks "
                f"such as 10.20.0.0/16,127.0.0.1/32. Got {item.strip()!r} in it instead."
            ) from None
    return tuple(networks)


def _parse_tolerance(value: str | None) -> float:
    if value is None:
        return 1e-5
    try:
        tolerance = float(value)
    except ValueError:
        tolerance = -1.0
    if not 0 <= tolerance < 1:  # also refuses nan
        raise ConfigurationError(
            f"The setting {_PREFIX}COMPILE_TOLERANCE must be a number in [0, 1), such as "
            f"1e-5. Got {value!r} instead."
        )
    return tolerance


def _parse_bool(key: str, value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(
        f"The setting {_PREFIX}{key} must be one of 1/0, true/false, yes/no, on/off. "
        f"Got {value!r} instead."
    )
