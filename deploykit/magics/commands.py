"""The ``%deploy`` line magic: one method per subcommand.

Each subcommand returns a record, a :class:`~deploykit.ui.results.RecordList`
or a small result object; IPython displays it once, as the cell's output (see
:mod:`deploykit.ui.results`). Every deploykit error becomes IPython's
``UsageError``: one line under the cell, no traceback, and the cell counts as
failed so "Run all" stops there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from deploykit.errors import DeployKitError
from deploykit.magics.help import HelpText
from deploykit.magics.parser import parse
from deploykit.magics.progress import Progress
from deploykit.ui import actions
from deploykit.ui.addresses import DEFAULT_SERVER_URL, console_url
from deploykit.ui.cards import CardView, card_view, kernel_context
from deploykit.ui.resolve import lookup, require_estimator
from deploykit.ui.results import (
    ConsoleLink,
    ModelStatus,
    Prediction,
    RecordList,
    Target,
)
from deploykit.ui.session import Session

if TYPE_CHECKING:
    from deploykit.backend import Backend
    from deploykit.client import Client

__all__ = ["DeployMagics"]


@magics_class
class DeployMagics(Magics):
    """``%deploy SUBCOMMAND ...``: evaluate, push, deploy and watch models from a notebook."""

    def __init__(self, shell: Any = None, session: Session | None = None) -> None:
        super().__init__(shell)
        self.session = session if session is not None else Session()

    @property
    def namespace(self) -> dict[str, Any]:
        if self.shell is None:  # only a magic made by hand, outside IPython, has no shell
            raise UsageError("%deploy needs an IPython shell: load it with %load_ext deploykit.")
        namespace: dict[str, Any] = self.shell.user_ns
        return namespace

    @property
    def backend(self) -> Backend:
        return self.session.backend

    @line_magic
    def deploy(self, line: str) -> Any:
        """Evaluate, push, deploy and roll back models: ``%deploy help`` lists the subcommands."""
        command = parse(line)
        handler: Callable[[Any], Any] = getattr(self, f"_{command.name}")
        try:
            return handler(command.args)
        except DeployKitError as exc:
            raise UsageError(str(exc)) from None

    # -- subcommands -----------------------------------------------------------------------

    def _help(self, args: Any) -> HelpText:
        return HelpText(args.topic)

    def _target(self, args: Any) -> Target:
        if args.url is None:
            if args.token_env is not None:
                raise UsageError(
                    "%deploy target: --token-env goes with a server URL, such as "
                    f"%deploy target {DEFAULT_SERVER_URL} --token-env {args.token_env}"
                )
            return self.session.target()
        if args.url in ("embedded", "local"):
            return self.session.set_target(None)
        if not args.url.startswith(("http://", "https://")):
            raise UsageError(
                f"%deploy target expects a server URL such as {DEFAULT_SERVER_URL}, or "
                f"'embedded' for the local registry. Got '{args.url}' instead."
            )
        token = source = None  # the client's defaults: DEPLOYKIT_TOKEN, then <home>/token
        if args.token_env is not None:
            token, source = os.environ.get(args.token_env), f"${args.token_env}"
            if not token:
                raise UsageError(
                    f"The environment variable {args.token_env} is not set or empty: set it to "
                    "your deploykit token before %deploy target, or leave out --token-env."
                )
        return self.session.set_target(args.url.rstrip("/"), token=token, token_source=source)

    def _evaluate(self, args: Any) -> Any:
        model = require_estimator(self.namespace, args.model)
        X = lookup(self.namespace, args.X)
        y = lookup(self.namespace, args.y)
        return actions.evaluate_model(self.session, model, X, y, name=args.name, cv=args.cv)

    def _push(self, args: Any) -> Any:
        model = require_estimator(self.namespace, args.model)
        X = lookup(self.namespace, args.data) if args.data is not None else None
        report, note = actions.report_for_push(
            self.session, model, args.name, gate=args.gate, label=args.model
        )
        bar = Progress(f"Pushing {args.name}", live=self._live)
        bar.start()
        try:
            version, summary, ok = actions.push_model(
                self.session,
                model,
                args.name,
                report=report,
                note=note,
                X=X,
                format=args.format,
                gate=args.gate,
                deploy=args.deploy,
                description=args.description,
                notebook=self._notebook(),
                progress=bar,
                nullable=args.nullable,
                card=lookup(self.namespace, args.card) if args.card is not None else None,
                lineage=kernel_context(self.shell, keep_source=args.keep_source),
            )
        except BaseException as exc:
            bar.finish(f"Push of {args.name} failed: {type(exc).__name__}", ok=False)
            raise
        bar.finish(summary, ok=ok)
        return version

    def _card(self, args: Any) -> CardView:
        return card_view(
            self.backend, args.name, args.version, diff=args.diff, revision=args.revision
        )

    def _versions(self, args: Any) -> RecordList:
        return RecordList(self.backend.versions(args.name), kind="versions")

    def _deploy(self, args: Any) -> Any:
        moved = self.backend.deploy(args.name, args.version, alias=args.alias, reason=args.reason)
        return self._moved(moved)

    def _rollback(self, args: Any) -> Any:
        moved = self.backend.rollback(args.name, to=args.to, alias=args.alias, reason=args.reason)
        return self._moved(moved)

    def _moved(self, alias: Any) -> Any:
        # The record is the cell's result; the line says where the move happened (in
        # brackets: an arrow there would read as if the version moved into the registry).
        print(f"{alias.model}: {alias.name} → version {alias.version} ({self.session.where()})")
        return alias

    # -- experiments (deploykit.ui.experiments renders them) ---------------------------

    def _shadow(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView

        started = self.backend.shadow(args.name, args.version, share=args.share, reason=args.reason)
        return ExperimentView(started)

    def _canary(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView

        started = self.backend.canary(
            args.name,
            args.version,
            percent=args.percent,
            sticky=args.sticky,
            promote_when=args.promote_when,
            min_requests=args.min_requests,
            max_duration=args.max_duration,
            reason=args.reason,
        )
        return ExperimentView(started)

    def _step(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView

        return ExperimentView(self.backend.step(args.name, args.percent, reason=args.reason))

    def _promote(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView

        return ExperimentView(self.backend.promote(args.name, args.reason))

    def _abort(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView

        return ExperimentView(self.backend.abort(args.name, args.reason))

    def _experiment(self, args: Any) -> Any:
        from deploykit.ui.experiments import ExperimentView, ExperimentWidget

        if args.widget:
            return ExperimentWidget(self.backend, args.name)
        found = self.backend.experiment(args.name)
        if found is None:
            print(f"{args.name} has had no experiment: start one with %deploy canary or shadow.")
            return None
        return ExperimentView(found)

    def _compare(self, args: Any) -> Any:
        from deploykit.ui.experiments import ComparisonView

        data = lookup(self.namespace, args.data) if args.data is not None else None
        compared = self.backend.compare(args.name, args.a, args.b, since=args.since, data=data)
        return ComparisonView(compared)

    def _models(self, args: Any) -> RecordList:
        return RecordList(self.backend.models(), kind="models")

    def _events(self, args: Any) -> RecordList:
        return RecordList(self.backend.events(args.name, limit=args.limit), kind="events")

    def _status(self, args: Any) -> ModelStatus | RecordList:
        if args.name is not None:
            return actions.model_status(self.session, args.name)
        return RecordList(
            [actions.model_status(self.session, m.name) for m in self.backend.models()],
            kind="status",
        )

    def _estimated(self, args: Any) -> Any:
        return actions.estimated(
            self.session, args.name, since=args.since, step=args.step, version=args.version
        )

    def _predict(self, args: Any) -> Prediction:
        data = lookup(self.namespace, args.data)
        if not self.session.embedded:
            return self._predict_remote(args, data)
        version = self.backend.version(args.name, args.version or "production")
        model = self.session.load(args.name, version)
        ignored: list[str] = []
        if version.signature:
            from deploykit.signature import Signature

            # The server's rule: named columns the model does not take are ignored, and said.
            signature = Signature.from_dict(version.signature)
            ignored = _extra_columns(data, signature.columns)
            data = signature.validate(data, allow_extra=True)
        if args.proba and not callable(getattr(model, "predict_proba", None)):
            raise UsageError(
                f"{version.ref} ({version.estimator}) has no predict_proba: leave out --proba."
            )
        from deploykit.server.payloads import predict_failure

        probabilities = classes = None
        try:
            predictions = model.predict(data)
            if args.proba:
                probabilities = model.predict_proba(data).tolist()
                classes = getattr(model, "classes_", None)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise predict_failure(version.ref, exc) from None
        return Prediction(
            model=args.name,
            version=version.version,
            predictions=_as_list(predictions),
            probabilities=probabilities,
            classes=_as_list(classes) if classes is not None else None,
            via="embedded registry (loaded in this kernel)",
            ignored_columns=ignored,
        )

    def _panel(self, args: Any) -> Any:
        try:
            from deploykit.ui.panel import DeployPanel
        except ImportError as exc:
            raise UsageError(
                f"The deploy panel needs ipywidgets ({exc}): pip install 'deploykit[jupyter]'"
            ) from None
        return DeployPanel(self.namespace, session=self.session, name=args.name)

    def _console(self, args: Any) -> ConsoleLink:
        url = console_url(self.session.url)
        if self.session.url is None:
            return ConsoleLink(
                url,
                "The console comes with the server: start both with `deploykit up` in a "
                "terminal, then open this link.",
            )
        return ConsoleLink(
            url,
            "Served beside the server by `deploykit up` or `deploykit console`; if it lives "
            "elsewhere, set DEPLOYKIT_CONSOLE_URL.",
        )

    # -- helpers ---------------------------------------------------------------------------

    @property
    def _live(self) -> bool:
        """Whether output can be redrawn in place: a kernel, not a terminal."""
        return getattr(self.shell, "kernel", None) is not None

    def _notebook(self) -> str | None:
        # Jupyter puts the notebook's path in __session__ (and JPY_SESSION_NAME).
        path = self.namespace.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        return str(path) if path else None

    def _predict_remote(self, args: Any, data: Any) -> Prediction:
        client = cast("Client", self.backend)  # not embedded: the session's Client
        answer = client.predict(args.name, data, version=args.version, proba=args.proba)
        return Prediction(
            model=answer.model,
            version=answer.version,
            predictions=list(answer.predictions),
            probabilities=answer.probabilities,
            classes=answer.classes,
            via=str(self.session.url),
            request_id=answer.request_id,
            ignored_columns=list(answer.ignored_columns),
        )


def _extra_columns(data: Any, known: list[str]) -> list[str]:
    """Named columns of ``data`` (a DataFrame, records or a dict of columns) not in ``known``."""
    names: list[Any] = []
    if hasattr(data, "columns") and not isinstance(data, dict):
        names = list(data.columns)
    elif isinstance(data, dict):
        names = list(data)
    elif isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        names = list(dict.fromkeys(k for r in data for k in r))
    wanted = set(known)
    return [str(n) for n in names if isinstance(n, str) and n not in wanted]


def _as_list(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    return list(tolist()) if callable(tolist) else list(values)
