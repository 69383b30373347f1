"""What one worker holds: registry, loaded models, telemetry, logs, tokens, alerts.

Every handler gets this :class:`ServerState` (``routes``, ``predict``, ``endpoint``
type against it), so it sits below them; :mod:`deploykit.server.app` builds it.
"""

from __future__ import annotations

import asyncio

from deploykit.errors import AuthenticationError
from deploykit.registry import Registry
from deploykit.server.alerting import AlertEvaluator
from deploykit.server.auth import TokenStore, ensure_local_token
from deploykit.server.config import ServerConfig
from deploykit.server.experiments import ShadowScorer
from deploykit.server.judge import ExperimentJudge
from deploykit.server.models import ModelHost, quiet_feature_name_warning
from deploykit.server.predlog import PredictionLog
from deploykit.server.request_ids import RequestIds
from deploykit.server.telemetry import Telemetry
from deploykit.server.wire import keep_private

__all__ = ["ServerState"]


class ServerState:
    """Everything one worker holds: registry, loaded models, telemetry, logs, tokens."""

    def __init__(self, registry: Registry, config: ServerConfig, *, owns_registry: bool) -> None:
        self.registry = registry
        self.config = config
        settings = registry.settings
        keep_private(settings.database_url, "<database>")
        keep_private(settings.artifacts_url, "<artifact store>")
        keep_private(settings.home, "<deploykit home>")
        self.owns_registry = owns_registry
        self.tokens = TokenStore(registry.engine)
        self.request_ids = RequestIds(registry.engine)  # signs the ids feedback may label
        self.host = ModelHost(registry, config)
        self.telemetry = Telemetry(
            registry.engine,
            bucket_seconds=config.telemetry_bucket_seconds,
            flush_seconds=config.telemetry_flush_seconds,
            retention_seconds=config.telemetry_retention_days * 86400,
        )
        self.predlog = PredictionLog(
            registry.settings.artifacts_url,
            rate=config.log_sample_rate,
            flush_seconds=config.log_flush_seconds,
            storage_options=registry.settings.storage_options(),
        )
        self.shadow = ShadowScorer(self.predlog, self.telemetry)
        self._registries: dict[str, Registry] = {}
        self.alerts = AlertEvaluator(
            registry,
            config,
            host=self.host,
            telemetry=self.telemetry,
            predlog=self.predlog,
        )

        self.judge = ExperimentJudge(
            registry, config, host=self.host, telemetry=self.telemetry, predlog=self.predlog
        )

    async def authorize(self, header: bytes | str | None, needed: str) -> tuple[str, str]:
        """(role, token name) of the caller ('Authorization: Bearer ...'); 401/403 if short."""
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        secret = None
        if header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() == "bearer" and not value.strip():
                raise AuthenticationError(
                    "The Authorization header holds no token after 'Bearer': send "
                    "'Authorization: Bearer <token>'."
                )
            if scheme.lower() != "bearer":
                raise AuthenticationError(
                    "The Authorization header must read 'Bearer <token>'. "
                    f"Got {_scheme_of(scheme)} instead."
                )
            secret = value.strip()
        if not secret or self.tokens.is_cached(secret):
            return self.tokens.authorize(secret, needed)
        return await asyncio.to_thread(self.tokens.authorize, secret, needed)

    def registry_as(self, actor: str) -> Registry:
        """The registry acting for ``actor`` (recorded in the audit log), sharing one engine."""
        reg = self._registries.get(actor)
        if reg is None:
            reg = self._registries[actor] = self.registry.as_actor(actor)
        return reg

    async def start(self) -> None:
        quiet_feature_name_warning()
        await asyncio.to_thread(
            ensure_local_token, self.tokens, self.registry.settings.home, actor="deploykit serve"
        )
        await asyncio.to_thread(self.request_ids.load)
        await asyncio.to_thread(self.host.poll)
        self.telemetry.start()
        self.predlog.start()
        self.host.start_following()
        self.alerts.start()
        self.judge.start()

    async def stop(self) -> None:
        await asyncio.to_thread(self.alerts.stop)
        await asyncio.to_thread(self.judge.stop)
        await asyncio.to_thread(self.shadow.stop)
        await asyncio.to_thread(self.telemetry.stop)
        await asyncio.to_thread(self.predlog.stop)
        self.host.close()
        if self.owns_registry:
            self.registry.close()


def _scheme_of(scheme: str) -> str:
    """How an Authorization header's first word is quoted back: a scheme name such as
    'Basic', never a credential (a bare token sent without 'Bearer ' is not echoed)."""
    if scheme.isalpha() and len(scheme) <= 16:
        return f"a {scheme!r} header"
    return "a header without a scheme (a bare token? put 'Bearer ' before it)"
