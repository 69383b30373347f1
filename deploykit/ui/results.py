"""What ``%deploy`` subcommands return, and how IPython displays it.

A subcommand returns the real thing: a :class:`~deploykit.records.ModelVersion`, an
:class:`~deploykit.records.Alias`, an ``EvaluationReport``, an ``EstimatedPerformance``,
or a list of records. It is *not* wrapped, so ``isinstance``, ``==``,
``dataclasses.replace`` and pickling work as on any record. The rendering comes from
IPython's display formatters instead: :func:`register_formatters` teaches the shell how
to show each record type (HTML in Jupyter, text in a terminal), so the value shows once,
as the cell's ``Out[n]``, and shows the same later when the variable is typed.

Lists come back as :class:`RecordList`, a real ``list`` with display methods.
Answers that are not registry records (where commands go, a model's status, a
prediction, the console link) are small frozen dataclasses defined here, with
their own ``_repr_html_`` and ``_repr_pretty_``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from deploykit.monitoring.health import Health
from deploykit.records import Alias, Event, ModelInfo, ModelVersion
from deploykit.ui import render

__all__ = [
    "ConsoleLink",
    "ModelStatus",
    "Prediction",
    "RecordList",
    "Shown",
    "Target",
    "register_formatters",
    "unregister_formatters",
]

_REPORT_MODULE = "deploykit.evaluation._report"
_ESTIMATED_MODULE = "deploykit.monitoring.performance"
# Registered by module and class name, so registering imports neither scikit-learn nor numpy.
_BY_NAME: dict[tuple[str, str], tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    (_REPORT_MODULE, "EvaluationReport"): (render.report_html, render.report_text),
    (_ESTIMATED_MODULE, "EstimatedPerformance"): (render.estimated_html, render.estimated_text),
}


class Shown:
    """Mixin: ``_repr_html_`` and ``_repr_pretty_`` from a pair of renderers.

    A subclass names its pair (``_html = render.target_html``, a function of the
    object) or defines the two methods.
    The dataclass ``__repr__`` stays for programmers (``repr(target)``). IPython's
    pretty printer takes the first of ``_repr_pretty_``/``__repr__`` it finds in the
    class's own ``__dict__``, so each subclass gets ``_repr_pretty_`` copied into it.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._repr_pretty_ = Shown._repr_pretty_  # type: ignore[method-assign]

    def _html(self) -> str:
        raise NotImplementedError

    def _text(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self._html()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._text())


class RecordList(list[Any]):
    """A list of records (versions, models, events, statuses) that displays as a table."""

    _RENDERERS: ClassVar[dict[str, tuple[Callable[[Any], str], Callable[[Any], str]]]] = {
        "versions": (render.versions_html, render.versions_text),
        "models": (render.models_html, render.models_text),
        "events": (render.events_html, render.events_text),
        "status": (render.status_html, render.status_text),
    }

    def __init__(self, items: Iterable[Any] = (), *, kind: str) -> None:
        super().__init__(items)
        if kind not in self._RENDERERS:
            raise ValueError(f"kind must be one of {sorted(self._RENDERERS)}; got {kind!r}")
        self.kind = kind

    def _repr_html_(self) -> str:
        return self._RENDERERS[self.kind][0](self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self._RENDERERS[self.kind][1](self))


@dataclasses.dataclass(frozen=True)
class Target(Shown):
    """Where ``%deploy`` commands go: the embedded registry (``url`` None) or a server."""

    url: str | None
    location: str
    token_source: str | None = None

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def hint(self) -> str:
        if self.url is None:
            return (
                "Pushes and deploys go to this machine's registry. Serve it with "
                "`deploykit serve`, then: %deploy target http://127.0.0.1:8765"
            )
        return "Switch back to the local registry with: %deploy target embedded"

    _html = render.target_html
    _text = render.target_text


@dataclasses.dataclass(frozen=True)
class ModelStatus(Shown):
    """What is known about one model in production.

    ``serving`` holds the server's totals over ``window`` (requests, errors_4xx,
    errors_5xx, throughput_rps, latency_p95_ms, ...) and ``series`` its time buckets;
    both are None/empty without a server, and ``note`` says so. ``health`` is the
    badge and its sentence, by the rule the console and the Lab sidebar use.
    """

    model: str
    live_version: int | None
    last_move: Event | None = None
    serving: dict[str, Any] | None = None
    series: tuple[dict[str, Any], ...] = ()
    window: str = "hour"
    drift: str | None = None
    note: str | None = None
    #: the badge every front end shows (:func:`deploykit.monitoring.health.verdict`)
    health: Health | None = None
    estimated: str | None = None  # the headline metric estimated from scores, with its band

    @property
    def error_rate(self) -> float | None:
        """Share of requests the server failed (5xx), as alert rules count it; None idle."""
        return self._share("errors_5xx")

    @property
    def client_error_rate(self) -> float | None:
        """Share of requests refused as bad input (4xx); None without traffic."""
        return self._share("errors_4xx")

    def _share(self, key: str) -> float | None:
        if not self.serving or not self.serving.get("requests"):
            return None
        return float(self.serving.get(key, 0) / self.serving["requests"])

    def _html(self) -> str:
        return render.status_html([self])

    def _text(self) -> str:
        return render.status_text([self])


@dataclasses.dataclass(frozen=True)
class Prediction(Shown):
    """What a model answered for some rows, and which version answered."""

    model: str
    version: int
    predictions: list[Any] = dataclasses.field(repr=False)
    probabilities: list[list[float]] | None = dataclasses.field(default=None, repr=False)
    classes: list[Any] | None = None
    via: str = "embedded registry"
    request_id: str | None = None
    ignored_columns: list[str] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions)

    _html = render.prediction_html
    _text = render.prediction_text


@dataclasses.dataclass(frozen=True)
class ConsoleLink(Shown):
    """The address of the team console, and how to start it if it may not be running."""

    url: str
    note: str

    _html = render.console_html
    _text = render.console_text


# -- display formatters for the core records ----------------------------------------------


def _pretty(text_of: Callable[[Any], str]) -> Callable[[Any, Any, bool], None]:
    def printer(obj: Any, p: Any, cycle: bool) -> None:
        p.text(text_of(obj))

    return printer


_RECORDS: dict[type, tuple[Callable[[Any], str], Callable[[Any], str]]] = {
    ModelVersion: (render.version_html, render.version_text),
    Alias: (render.alias_html, render.alias_text),
    ModelInfo: (lambda m: render.models_html([m]), lambda m: render.models_text([m])),
    Event: (lambda e: render.events_html([e]), lambda e: render.events_text([e])),
}


def register_formatters(shell: Any) -> None:
    """Show deploykit records as HTML (Jupyter) and text (terminal) in ``shell``.

    The evaluation report and the estimated performance are registered by module and
    class name, so this imports neither scikit-learn nor numpy; IPython resolves them
    the first time one is shown.
    """
    formatters = shell.display_formatter.formatters
    html, text = formatters["text/html"], formatters["text/plain"]
    for cls, (to_html, to_text) in _RECORDS.items():
        html.for_type(cls, to_html)
        text.for_type(cls, _pretty(to_text))
    for (module, name), (to_html, to_text) in _BY_NAME.items():
        html.for_type_by_name(module, name, to_html)
        text.for_type_by_name(module, name, _pretty(to_text))


def unregister_formatters(shell: Any) -> None:
    """Undo :func:`register_formatters` (``%unload_ext deploykit``)."""
    formatters = shell.display_formatter.formatters
    for mime in ("text/html", "text/plain"):
        formatter = formatters[mime]
        for cls in _RECORDS:
            formatter.type_printers.pop(cls, None)
        for key in _BY_NAME:
            formatter.deferred_printers.pop(key, None)
        for cls in list(formatter.type_printers):
            if (cls.__module__, cls.__name__) in _BY_NAME:
                formatter.type_printers.pop(cls)
