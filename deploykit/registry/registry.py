"""The registry facade: what ``deploykit.Registry()`` gives a user.

It validates arguments, stores artifacts (:mod:`deploykit.registry.artifacts`)
and delegates every read and write of metadata to
:class:`~deploykit.registry.metadata.MetadataStore`. A push stores and verifies
the artifact first and then commits the version in one transaction, so a crash
at any point leaves either no version or a complete one.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from deploykit._closing import Closing
from deploykit._push import PushOptions, split_options
from deploykit.errors import (
    AliasNotFoundError,
    ArtifactError,
    ArtifactIntegrityError,
    ConflictError,
    DeployKitWarning,
    InvalidInputError,
)
from deploykit.records import Alias, CardRevision, Event, Experiment, ModelInfo, ModelVersion
from deploykit.registry.database import create_engine, mask_url
from deploykit.registry.drafts import VersionDraft, json_safe, prepare_draft
from deploykit.registry.events import check_filters
from deploykit.registry.history import unknown_target
from deploykit.registry.metadata import MetadataStore
from deploykit.registry.migrate import ensure_schema
from deploykit.registry.names import check_alias_name, check_model_name
from deploykit.registry.opening import ensure_home_if_used, resolve_settings
from deploykit.settings import Settings

if TYPE_CHECKING:
    from typing import Unpack

    import pandas as pd
    import sqlalchemy as sa

    from deploykit.cards.store import CardStore
    from deploykit.monitoring import ReferenceProfile
    from deploykit.monitoring.compare import Comparison
    from deploykit.monitoring.options import DriftOptions
    from deploykit.monitoring.performance import EstimatedPerformance
    from deploykit.monitoring.results import DriftTimeline
    from deploykit.monitoring.rules import AlertOptions, AlertRule
    from deploykit.registry.artifacts import ArtifactStore
    from deploykit.registry.experiments import Ending, ExperimentStore
    from deploykit.registry.gc import GcReport
    from deploykit.registry.watch import AliasWatcher

__all__ = ["Registry"]

_ROLLBACK_ACTIONS = ("rollback", "auto-rollback")
_DIGEST_PREFIX = "sha256:"
_MOVE_ATTEMPTS = 5  # an alias that moves under a deploy this often is a conflict


class _UnverifiedTargetError(Exception):
    """Raised inside a move's transaction: its target's artifact is not verified yet."""

    def __init__(self, version: int, digest: str) -> None:
        super().__init__(version, digest)
        self.version = version
        self.digest = digest


class Registry(Closing):
    """Versions, aliases and the audit log of your models, with their artifacts.

    With no arguments, the embedded registry from ``DEPLOYKIT_*`` settings: a
    SQLite file and an artifact folder under ``~/.deploykit``. ``home``,
    ``database_url``, ``artifacts_url`` and ``actor`` override single settings.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        database_url: str | None = None,
        artifacts_url: str | None = None,
        actor: str | None = None,
    ) -> None:
        self.settings: Settings = resolve_settings(
            settings,
            home=home,
            database_url=database_url,
            artifacts_url=artifacts_url,
            actor=actor,
        )
        ensure_home_if_used(self.settings)
        self.engine: sa.Engine = create_engine(
            self.settings.database_url, fsync=self.settings.fsync
        )
        try:
            ensure_schema(self.engine)
        except BaseException:
            self.engine.dispose()
            raise
        self._meta = MetadataStore(self.engine)
        self._store: ArtifactStore | None = None

    # -- artifacts -----------------------------------------------------------------------

    @property
    def artifacts(self) -> ArtifactStore:
        """The content-addressed artifact store (opened on first use)."""
        if self._store is None:
            from deploykit.registry.artifacts import ArtifactStore

            self._store = ArtifactStore(
                self.settings.artifacts_url,
                fsync=self.settings.fsync,
                storage_options=self.settings.storage_options(),
            )
        return self._store

    # -- push ----------------------------------------------------------------------------

    def push(
        self, model: Any, name: str, *, format: str = "joblib", **options: Unpack[PushOptions]
    ) -> ModelVersion:
        """Store ``model`` as the next version of ``name``; deploy it if asked and its gate passes.

        ``X`` (training data or a sample) gives the input signature and the reference
        profile drift is measured against. ``evaluation`` is a report from
        :func:`deploykit.evaluate`; ``gate`` (e.g. ``"recall >= 0.8"``) is checked against it.
        """
        check_model_name(name)
        fields, deploy, _ = split_options(options, call="push")
        from deploykit.serialization import warn_if_pickle

        warn_if_pickle(format)
        draft = prepare_draft(model, format=format, **fields)
        from deploykit.serialization import dump

        stored = self.artifacts.write(lambda fileobj: dump(model, fileobj, format=format))
        # write() hashed the bytes as it stored them: the digest is verified by construction.
        self._check_loadable(name, stored.digest, format)
        draft = self._compiled(model, draft, fields.get("X"))
        return self._commit(name, draft.with_artifact(stored.digest, stored.size), deploy=deploy)

    def push_file(
        self,
        path: str | os.PathLike[str],
        name: str,
        *,
        format: str | None = None,
        **options: Unpack[PushOptions],
    ) -> ModelVersion:
        """Push an already-serialized model file, storing the file's own bytes.

        The file is loaded once to check it holds an estimator and to read its
        signature; ``format`` is detected from the file when not given.
        """
        from deploykit.serialization import detect_format, load, model_file

        check_model_name(name)
        fields, deploy, _ = split_options(options, call="push_file")
        path = model_file(path)
        format = format or detect_format(path)
        from deploykit.serialization import warn_if_pickle

        warn_if_pickle(format)
        # Store first and check the stored copy: what is checked is what gets served,
        # even if the file changes meanwhile. A refused file leaves an orphan object only.
        stored = self.artifacts.put_file(path)
        self._check_loadable(name, stored.digest, format)
        stored_path = self.artifacts.local_path(stored.digest)
        model = load(stored_path, format=format, trusted=self.settings.skops_trusted)
        draft = prepare_draft(model, format=format, **fields)
        draft = self._compiled(model, draft, fields.get("X"))
        return self._commit(name, draft.with_artifact(stored.digest, stored.size), deploy=deploy)

    def _compiled(self, model: Any, draft: VersionDraft, X: Any) -> VersionDraft:
        """``draft`` with its runtime: the ONNX artifact derived from ``model`` and verified
        against it on ``X`` stored beside the original (which stays the source of truth),
        or the reason it serves with scikit-learn. See :mod:`deploykit.compile`."""
        from deploykit.compile import compile_for_push

        compiled = compile_for_push(model, draft.signature, X, self.settings)
        info = compiled.info.to_dict()
        onnx = compiled.onnx
        if onnx is not None:

            def fill(fileobj: BinaryIO) -> None:
                fileobj.write(onnx)

            stored = self.artifacts.write(fill)
            info.update(digest=stored.digest, size=stored.size)
        return draft.with_runtime(json_safe(info))

    def register(self, name: str, draft: VersionDraft, *, deploy: bool = False) -> ModelVersion:
        """Record a version whose artifact (``draft.digest``) is already in the store.

        The artifact is verified against its digest and size first. The HTTP server
        uses this after a streamed upload.
        """
        check_model_name(name)
        if not isinstance(draft, VersionDraft):
            raise InvalidInputError(
                f"register() needs a VersionDraft. Got {type(draft).__name__} instead; "
                "build one with deploykit.registry.prepare_draft()."
            )
        digest = draft.digest
        if not (isinstance(digest, str) and digest.startswith(_DIGEST_PREFIX)):
            raise InvalidInputError(
                f"The draft's digest must look like 'sha256:<64 hex digits>'. Got {digest!r} "
                "instead; store the artifact first and use the digest the store returns."
            )
        draft.check()  # every field, before anything is read or written
        if not self.artifacts.exists(digest):  # the caller's draft names bytes never stored
            raise InvalidInputError(
                f"The draft's digest {digest} names no artifact in the store: upload the "
                "artifact (POST /v1/artifacts, or ArtifactStore.put) before registering a "
                "version that uses it."
            )
        self.artifacts.verify(digest)
        size = self.artifacts.size(digest)
        if draft.size != size:  # the draft is wrong, not the stored bytes
            raise InvalidInputError(
                f"The draft says artifact {digest} is {draft.size} bytes; the store holds "
                f"{size} bytes. Rebuild the draft from the uploaded file."
            )
        self._check_loadable(name, digest, draft.format)
        self._check_runtime(draft)
        return self._commit(name, draft, deploy=deploy)

    def _check_runtime(self, draft: VersionDraft) -> None:
        """A draft saying it runs compiled names an ONNX artifact stored here, intact."""
        compiled = (draft.runtime or {}).get("digest")
        if not compiled or (draft.runtime or {}).get("runtime") != "onnx":
            return
        if not self.artifacts.exists(compiled):
            raise InvalidInputError(
                f"The draft's runtime names the compiled artifact {compiled}, which is not in "
                "the store: upload it (POST /v1/artifacts) before registering the version."
            )
        self.artifacts.verify(compiled)

    def _check_loadable(self, name: str, digest: str, format: str) -> None:
        """A push that cannot load is not a version: load a skops artifact under the
        trust policy of this registry's settings (the server's, when it registers)."""
        if format != "skops":
            return  # a pickle loads anything; the digest check is its protection
        from deploykit.errors import UnreadableArtifactError, UntrustedArtifactError
        from deploykit.serialization import load

        try:
            load(
                self.artifacts.local_path(digest),
                format=format,
                trusted=self.settings.skops_trusted,
                label=name,
            )
        except UnreadableArtifactError as exc:
            raise InvalidInputError(f"{name} was not pushed: {exc}") from None
        except UntrustedArtifactError as exc:
            raise InvalidInputError(
                f"{name} was not pushed: it would not load where it is served. {exc} "
                "Set it wherever the model is loaded (the server too), or push with "
                "format='joblib'."
            ) from None

    def _commit(self, name: str, draft: VersionDraft, *, deploy: bool) -> ModelVersion:
        blocked = deploy and draft.gate_passed is False
        version = self._meta.insert_version(
            name,
            draft,
            actor=self.settings.actor,
            deploy_alias="production" if deploy and not blocked else None,
        )
        if blocked:
            summary = (draft.gate or {}).get("summary") or "gate failed"
            warnings.warn(
                f"{version.ref} was pushed but not deployed ({summary}). "
                f"Production is unchanged; deploy it anyway with "
                f"reg.deploy({name!r}, {version.version}).",
                DeployKitWarning,
                stacklevel=3,
            )
        return version

    # -- reads ---------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Every model, by name."""
        return self._meta.models()

    def model(self, name: str) -> ModelInfo:
        """One model and where its aliases point."""
        return self._meta.model(check_model_name(name))

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first."""
        return self._meta.versions(check_model_name(name))

    def version(self, name: str, ref: int | str = "production") -> ModelVersion:
        """The version ``ref`` names: a number, ``"3"``, ``"latest"`` or an alias."""
        return self._meta.version(check_model_name(name), ref)

    def deploy_target(self, name: str, ref: int | str) -> ModelVersion:
        """The version a deploy of ``ref`` moves to, as :meth:`version`; but a word that is
        not an alias the model has reads as a mistaken VERSION, and the error lists the
        aliases there are (it does not advise deploying to that alias first)."""
        try:
            return self.version(name, ref)
        except AliasNotFoundError:
            if not isinstance(ref, str):
                raise
            known = [a.name for a in self._meta.aliases(name)]
            raise unknown_target(ref, known) from None

    def aliases(self, name: str) -> list[Alias]:
        """Where each alias of ``name`` points, by alias name."""
        return self._meta.aliases(check_model_name(name))

    def events(
        self,
        name: str | None = None,
        *,
        limit: int = 100,
        since: datetime | None = None,
        action: str | None = None,
    ) -> list[Event]:
        """The audit log, newest first; of one model if ``name`` is given."""
        if name is not None:
            check_model_name(name)
        check_filters(limit=limit, since=since, action=action)
        return self._meta.events(name, limit=limit, since=since, action=action)

    def last_event_id(self) -> int:
        """Id of the newest event (0 if none): a cheap poll for "has anything moved?".

        Ids become visible in the order they were assigned on every backend (writes are
        serialized, see :mod:`deploykit.registry.database`), so a poller never skips one.
        """
        return self._meta.last_event_id()

    def alias_versions(self, alias: str = "production") -> dict[str, int]:
        """Model name -> version ``alias`` points at, for every model that has it.

        One small query: what server replicas poll to follow deploys and rollbacks.
        """
        return self._meta.alias_versions(check_alias_name(alias))

    def watch_aliases(self) -> AliasWatcher:
        """A waiter woken by alias moves (PostgreSQL LISTEN/NOTIFY; a sleep elsewhere)."""
        from deploykit.registry.watch import AliasWatcher

        return AliasWatcher(self.engine)

    # -- alias moves ---------------------------------------------------------------------

    def deploy(
        self,
        name: str,
        version: int | str,
        *,
        alias: str = "production",
        reason: str | None = None,
    ) -> Alias:
        """Point ``alias`` at ``version`` (a number, ``"latest"`` or another alias).

        The target's stored artifact is rehashed first: a version whose bytes no longer
        match their digest never becomes the alias's version (ArtifactIntegrityError).
        """
        check_model_name(name)
        check_alias_name(alias)
        target = self.deploy_target(name, version)  # not found: before any hashing
        return self._verified_move(
            name,
            alias,
            lambda check: self._meta.deploy(
                name, version, alias=alias, actor=self.settings.actor, reason=reason, check=check
            ),
            first=(target.version, target.digest),
        )

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
        """Move ``alias`` back to the version it held before, or to version ``to``.

        Repeated rollbacks keep stepping back through the deploy history. With
        ``if_current=N`` nothing happens unless the alias is on version N (a
        ConflictError instead), so two monitors reacting to the same alert roll
        back once, not twice.
        """
        check_model_name(name)
        check_alias_name(alias)
        if action not in _ROLLBACK_ACTIONS:
            raise InvalidInputError(
                f"The 'action' parameter of rollback must be one of "
                f"{', '.join(map(repr, _ROLLBACK_ACTIONS))}. Got {action!r} instead."
            )
        for key, value in (("to", to), ("if_current", if_current)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise InvalidInputError(
                    f"The {key!r} parameter of rollback must be a version number. "
                    f"Got {value!r} instead."
                )
        first = None
        if to is not None:
            target = self._meta.version(name, to)
            first = (target.version, target.digest)
        return self._verified_move(
            name,
            alias,
            lambda check: self._meta.rollback(
                name,
                to=to,
                alias=alias,
                actor=self.settings.actor,
                reason=reason,
                action=action,
                if_current=if_current,
                check=check,
            ),
            first=first,
        )

    def _verified_move(
        self,
        name: str,
        alias: str,
        move: Callable[[Callable[[int, str], None]], Alias],
        *,
        first: tuple[int, str] | None,
    ) -> Alias:
        """Run ``move`` once the artifact of the version it lands on is verified.

        Hashing happens outside the write transaction (a big model must not hold the
        database's write lock): the move's transaction checks that its target is one
        verified already, and otherwise backs out, lets it be verified, and runs again.
        """
        verified: set[str] = set()
        if first is not None:
            self._verify_target(name, alias, *first)
            verified.add(first[1])

        def check(version: int, digest: str) -> None:
            if digest not in verified:
                raise _UnverifiedTargetError(version, digest)

        for _ in range(_MOVE_ATTEMPTS):
            try:
                return move(check)
            except _UnverifiedTargetError as pending:
                self._verify_target(name, alias, pending.version, pending.digest)
                verified.add(pending.digest)
        raise ConflictError(
            f"Model {name!r} alias {alias!r} kept moving while this move was checked; "
            "nothing was moved. Look at reg.events() and try again."
        )

    def _verify_target(self, name: str, alias: str, version: int, digest: str) -> None:
        try:
            self.artifacts.verify(digest)
        except ArtifactError as exc:
            current = self._meta.alias_versions(alias).get(name)
            stays = f"stays on version {current}" if current is not None else "points nowhere"
            check = (
                "fails its digest check"
                if isinstance(exc, ArtifactIntegrityError)
                else ("cannot be read")
            )
            raise type(exc)(
                f"{name}:{version} cannot become {alias!r}: its stored artifact {check}, so "
                f"nothing moved and {alias!r} {stays}. {exc}"
            ) from None

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        """Remove ``alias`` from ``name``; its history stays in the audit log."""
        check_model_name(name)
        check_alias_name(alias)
        self._meta.delete_alias(name, alias, actor=self.settings.actor, reason=reason)

    def record_alert(
        self,
        name: str,
        reason: str,
        *,
        version: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> Event:
        """Append an ``alert`` event (drift, error rate...) to the audit log; nothing moves."""
        check_model_name(name)
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInputError(
                f"An alert needs a reason, such as 'drift in age (PSI 0.31)'. Got {reason!r}."
            )
        return self._meta.record_alert(
            name,
            actor=self.settings.actor,
            reason=reason,
            version=version,
            details=json_safe(dict(details or {})),
        )

    # -- cards and lineage ---------------------------------------------------------------

    @property
    def _cards(self) -> CardStore:
        from deploykit.cards.store import CardStore

        return CardStore(self.engine)

    def card(
        self,
        name: str,
        version: int | str = "production",
        *,
        revision: int | None = None,
        format: str = "markdown",
    ) -> str:
        """The model card of ``version``: revision ``revision`` (the latest if None) with
        its deploy history so far, as Markdown or (``format="html"``) HTML."""
        from deploykit.cards.document import assemble, check_format

        check_format(format)
        record = self.version(name, version)
        stored = self._cards.revision(record, revision)
        history = self._meta.events(name, limit=10_000)
        return assemble(stored.markdown, record.version, history, format=format)

    def amend_card(
        self,
        name: str,
        version: int | str,
        fields: Mapping[str, Any],
        *,
        reason: str | None = None,
    ) -> CardRevision:
        """A new revision of the card of ``version`` with ``fields`` changed (intended use,
        limitations, owners...; ``None`` clears one). The version stays as pushed; the
        amendment is a ``card`` event in the audit log."""
        record = self.version(name, version)
        return self._cards.amend(record, fields, actor=self.settings.actor, reason=reason)

    def lineage(self, name: str, version: int | str = "production") -> dict[str, Any] | None:
        """``{"lineage": ..., "reference": ...}`` recorded at push (None if pushed before
        deploykit kept lineage): the notebook, cells hash, git state, package lock, and the
        reference sample ``deploykit verify`` reproduces."""
        return self._cards.lineage(self.version(name, version))

    # -- monitoring (what Client offers too; see deploykit.backend) ----------------------

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
        """Requests, errors, latency and throughput of ``name``, as ``Client.metrics``: from
        the telemetry servers sharing this database wrote (zero requests if none did)."""
        from deploykit.monitoring.metrics import metrics

        return metrics(
            self,
            check_model_name(name),
            window=window,
            step=step,
            version=version,
            since=since,
            until=until,
        )

    def drift(
        self,
        name: str,
        *,
        since: datetime | str | float | None = None,
        until: datetime | str | float | None = None,
        step: int | None = None,
        version: int | None = None,
    ) -> DriftTimeline:
        """Drift of ``name``'s logged traffic against its reference profile, as
        ``Client.drift`` (see :func:`deploykit.monitoring.drift`)."""
        from deploykit.monitoring.monitor import drift
        from deploykit.monitoring.periods import parse_time

        self.model(name)  # ModelNotFoundError first, as the server's 404
        return drift(
            self,
            name,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            step=step,
            version=version,
        )

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
        """Metrics of ``name``'s logged traffic estimated without labels, with a band, and
        realized where feedback exists, as ``Client.estimated_performance`` (see
        :func:`deploykit.monitoring.performance.estimated_performance`)."""
        from deploykit.monitoring.performance import estimated_performance
        from deploykit.monitoring.periods import parse_time

        self.model(name)
        return estimated_performance(
            self,
            name,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            step=step,
            version=version,
            confidence=confidence,
        )

    def drift_options(self, name: str) -> DriftOptions:
        """The drift options kept for ``name`` (the defaults if none were set)."""
        from deploykit.monitoring.store import drift_options

        self.model(name)
        return drift_options(self, name)

    def set_drift_options(self, name: str, options: DriftOptions | dict[str, Any]) -> DriftOptions:
        """Keep ``options`` (thresholds per kind and per feature...) for ``name``."""
        from deploykit.monitoring.store import set_drift_options

        return set_drift_options(self, check_model_name(name), options)

    def alerts(self, name: str) -> list[AlertRule]:
        """The alert rules of ``name``."""
        from deploykit.monitoring.store import alerts

        return alerts(self, check_model_name(name))

    def set_alert(self, name: str, rule: str, **options: Unpack[AlertOptions]) -> AlertRule:
        """Create or replace the alert rule ``rule`` of ``name`` (see ``Client.set_alert``).

        A deploykit server sharing this database evaluates it."""
        from deploykit.monitoring.store import set_alert

        return set_alert(
            self,
            check_model_name(name),
            rule,
            **options,
        )

    def delete_alert(self, name: str, rule: str) -> AlertRule:
        """Remove the alert rule ``rule`` of ``name``; the rule removed."""
        from deploykit.monitoring.store import delete_alert

        return delete_alert(self, check_model_name(name), rule)

    # -- experiments: shadow, canary, promote on evidence (deploykit.registry.experiments)

    @property
    def _experiments(self) -> ExperimentStore:
        from deploykit.registry.experiments import ExperimentStore

        return ExperimentStore(self.engine)

    def shadow(
        self,
        name: str,
        version: int | str,
        *,
        share: float = 1.0,
        alias: str = "production",
        reason: str | None = None,
    ) -> Experiment:
        """Score ``share`` of ``alias``'s requests with ``version`` too, off the request
        path: callers get production's answer, both predictions are logged under one
        request id (compare them with :meth:`compare`)."""
        from deploykit.registry.experiments import check_percent

        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
            raise InvalidInputError(
                f"The 'share' parameter of shadow must be a fraction in (0, 1]. Got {share!r} "
                "instead."
            )
        percent = check_percent(share * 100, param="share", kind="shadow")
        return self._start(name, version, "shadow", alias, percent, None, None, reason)

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
    ) -> Experiment:
        """Let ``version`` answer ``percent`` of ``alias``'s requests.

        The ``X-Deploykit-Key`` header, else the input column ``sticky``, keeps a caller on
        one version; without either each request draws. With ``promote_when`` (e.g.
        ``"error_rate<=production; accuracy>=production-0.01"``) the server promotes the
        candidate once an always-valid sequential test shows the policy holds after
        ``min_requests``, and aborts on a breach or after ``max_duration`` seconds
        undecided (see :mod:`deploykit.monitoring.policy`).
        """
        from deploykit.registry.experiments import check_percent, check_policy

        percent = check_percent(percent)
        if sticky is not None and (not isinstance(sticky, str) or not sticky.strip()):
            raise InvalidInputError(
                "The 'sticky' parameter of canary must be an input column name or None. "
                f"Got {sticky!r} instead."
            )
        policy = check_policy(promote_when, min_requests, max_duration)
        return self._start(name, version, "canary", alias, percent, sticky, policy, reason)

    def _start(
        self,
        name: str,
        version: int | str,
        kind: str,
        alias: str,
        percent: float,
        sticky: str | None,
        policy: dict[str, Any] | None,
        reason: str | None,
    ) -> Experiment:
        check_model_name(name)
        check_alias_name(alias)
        candidate = self.deploy_target(name, version)  # a mistyped VERSION says what it takes
        self._verify_target(name, alias, candidate.version, candidate.digest)
        return self._experiments.start(
            name,
            kind=kind,
            candidate=candidate.version,
            alias=alias,
            percent=percent,
            sticky=sticky,
            policy=policy,
            actor=self.settings.actor,
            reason=reason,
        )

    def step(self, name: str, percent: float, *, reason: str | None = None) -> Experiment:
        """Change the running experiment's share of traffic to ``percent``."""
        from deploykit.registry.experiments import check_percent

        check_model_name(name)
        return self._experiments.step(
            name, check_percent(percent, kind="step"), actor=self.settings.actor, reason=reason
        )

    def promote(
        self,
        name: str,
        reason: str,
        *,
        statistics: dict[str, Any] | None = None,
        if_experiment: int | None = None,
    ) -> Experiment:
        """End the running experiment and move its alias to the candidate, in one step."""
        check_model_name(name)
        _check_reason(reason, "promote")
        running = self._experiments.latest(name)
        if running is not None and running.running:
            target = self._meta.version(name, running.candidate)
            self._verify_target(name, running.alias, target.version, target.digest)
        ended, _ = self._experiments.promote(
            name, **self._ending(reason, statistics, if_experiment)
        )
        return ended

    def abort(
        self,
        name: str,
        reason: str,
        *,
        statistics: dict[str, Any] | None = None,
        if_experiment: int | None = None,
    ) -> Experiment:
        """End the running experiment: all traffic back to production, which never moved."""
        check_model_name(name)
        _check_reason(reason, "abort")
        return self._experiments.abort(name, **self._ending(reason, statistics, if_experiment))

    def _ending(
        self, reason: str, statistics: dict[str, Any] | None, if_experiment: int | None
    ) -> Ending:
        from deploykit.registry.experiments import Ending

        actor = self.settings.actor
        return Ending(actor=actor, reason=reason, statistics=statistics, expect_id=if_experiment)

    def experiment(self, name: str) -> Experiment | None:
        """The running experiment of ``name``, else its last one, else None."""
        self.model(name)  # ModelNotFoundError first
        return self._experiments.latest(name)

    def evidence(self, name: str) -> dict[str, Any] | None:
        """What the running experiment's policy test says now, without acting on it
        (None if none runs with a ``promote_when``)."""
        from deploykit.monitoring.evidence import judge

        found = self.experiment(name)
        if found is None or not found.running or not found.promote_when:
            return None
        return judge(self, found).to_dict()

    def running_experiments(self) -> dict[str, Experiment]:
        """Model name -> running experiment, for every model: what servers poll."""
        return self._experiments.running()

    def compare(
        self,
        name: str,
        a: int | str = "production",
        b: int | str = "candidate",
        *,
        since: datetime | str | float | None = None,
        data: pd.DataFrame | None = None,
    ) -> Comparison:
        """How versions ``a`` and ``b`` differ: agreement, cross-table, where they disagree
        most, latency/error and accuracy deltas, example rows; on the logged shadow/canary
        traffic since ``since`` (the experiment's start), or on ``data`` scored by both."""
        from deploykit.monitoring.compare import compare_versions

        return compare_versions(self, check_model_name(name), a, b, since=since, data=data)

    # -- loading -------------------------------------------------------------------------

    def artifact_path(self, name: str, ref: int | str = "production") -> Path:
        """A local file holding the version's artifact, verified against its digest."""
        return self.artifacts.local_path(self.version(name, ref).digest)

    def compiled_path(self, name: str, ref: int | str = "production") -> Path | None:
        """A local file holding the version's compiled (ONNX) artifact, verified against
        its digest; None if the version runs with scikit-learn."""
        runtime = self.version(name, ref).runtime or {}
        if runtime.get("runtime") != "onnx" or not runtime.get("digest"):
            return None
        return self.artifacts.local_path(runtime["digest"])

    def load(self, name: str, ref: int | str = "production") -> Any:
        """The deserialized model of version ``ref`` of ``name``.

        Only bytes that match the digest recorded at push are deserialized (loading
        a pickle runs code). Warns once if the library versions differ from those
        the model was pushed with.
        """
        from deploykit.serialization import check_environment, load

        version = self.version(name, ref)
        path = self.artifacts.local_path(version.digest)
        model = load(
            path, format=version.format, trusted=self.settings.skops_trusted, label=version.ref
        )
        check_environment(version.environment, model_ref=version.ref)
        return model

    def profile(self, name: str, ref: int | str = "production") -> ReferenceProfile | None:
        """The reference profile recorded at push (None if pushed without ``X``)."""
        data = self._meta.profile(check_model_name(name), ref)
        if data is None:
            return None
        from deploykit.monitoring import ReferenceProfile

        return ReferenceProfile.from_dict(data)

    def gc(
        self, *, older_than: float = 3600.0, dry_run: bool = False, force: bool = False
    ) -> GcReport:
        """Remove artifact blobs no version references and dead ``.part`` files.

        Only those older than ``older_than`` seconds: a push in progress has stored its
        blob but not yet committed its version. See :mod:`deploykit.registry.gc`.
        """
        from deploykit.registry.gc import collect_garbage

        return collect_garbage(self, older_than=older_than, dry_run=dry_run, force=force)

    def as_actor(self, actor: str) -> Registry:
        """This registry acting for ``actor`` in the audit log, sharing its connections.

        For servers that act for many token holders. Close only the original.
        """
        if not isinstance(actor, str) or not actor.strip():
            raise InvalidInputError(f"The 'actor' parameter must be a name. Got {actor!r} instead.")
        clone = copy.copy(self)
        clone.settings = self.settings.replace(actor=actor)
        return clone

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return (
            f"Registry(database_url={mask_url(self.settings.database_url)!r}, "
            f"artifacts_url={self.settings.artifacts_url!r})"
        )


def _check_reason(reason: object, verb: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInputError(
            f"A {verb} needs a reason for the audit log, such as 'accuracy holds on 5,000 "
            f"labelled requests'. Got {reason!r} instead."
        )
