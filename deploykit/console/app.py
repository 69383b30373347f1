"""The console object: ``Console(client).show()`` in a notebook, or served by Voila.

    from deploykit.console import Console
    Console.from_env().show()        # DEPLOYKIT_SERVER_URL and DEPLOYKIT_TOKEN

One page at a time in the same widget tree: the overview, or one model's page.
A background thread refreshes the visible page every ``refresh_seconds``: it fetches,
then updates widget values, and the browser sees only what changed, with no reload.
Button clicks arrive on the kernel's own thread, so every fetch-and-update holds one
lock: a click never interleaves with a refresh. Drift, the costliest answer, is
fetched every ``drift_seconds``; the rest at every refresh.
"""

from __future__ import annotations

import dataclasses
import html
import math
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from deploykit.console.data import (
    Access,
    Evidence,
    ModelPage,
    fetch_access,
    fetch_evidence,
    fetch_model,
    fetch_overview,
    latest_alert,
)
from deploykit.console.views import ModelView, OverviewView
from deploykit.errors import DeployKitError
from deploykit.settings import Settings
from deploykit.ui.markup import BAD, MUTED

if TYPE_CHECKING:
    from deploykit.client import Client

__all__ = ["Console"]


class Console:
    """Every model at a glance, each model's versions, charts and audit log; live."""

    def __init__(
        self,
        client: Client,
        *,
        refresh_seconds: float = 5.0,
        drift_seconds: float = 30.0,
        overview_seconds: int = 300,
        period_seconds: int = 3600,
    ) -> None:
        self.client = client
        self.refresh_seconds = refresh_seconds
        self.drift_seconds = drift_seconds
        self.overview_seconds = overview_seconds
        self.period_seconds = period_seconds
        self.current: str | None = None  # the model whose page is shown, None: the overview
        self.pages: dict[str, ModelView] = {}
        self.refreshes = 0  # completed refreshes, for tests and the status line
        self.error: str | None = None  # the last refresh's problem, if it had one
        self._drift_at: dict[str | None, float] = {}  # page (None: overview) -> last drift fetch
        self._drift_shares: dict[str, float | None] = {}
        self._evidence: dict[int, Evidence] = {}  # alert event id -> what fired it (fixed)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self.access = Access(None, None, False)
        self.title = widgets.HTML()
        self.status = widgets.HTML()
        self.status.add_class("dk-status")
        self.overview = OverviewView(server_url=client.url, on_open=self._open)
        self.body = widgets.VBox([self.overview])
        self.widget = widgets.VBox([self.title, self.status, self.body])
        self.widget.add_class("dk-console")
        self.refresh(with_drift=False)  # asks who we are first; drift follows in the background

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Console:
        """A console on the server of ``DEPLOYKIT_SERVER_URL`` with ``DEPLOYKIT_TOKEN``.

        In a kernel of ``deploykit console``, with the token of the signed-in visitor
        instead: it waits for the visit (a preheated kernel) and never uses another token.
        """
        from deploykit.backend import open_client
        from deploykit.console.visit import served, wait_for_visitor

        settings = Settings.from_env(environ)
        if served(environ):
            visitor = wait_for_visitor(environ)
            return cls(open_client(settings, token=visitor.token, timeout=30.0), **options)
        return cls(open_client(settings, timeout=30.0), **options)

    # -- showing ---------------------------------------------------------------------------

    def show(self) -> Console:
        """Display the console and start refreshing it in the background."""
        from IPython.display import display

        display(self.widget)
        self.start()
        return self

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def start(self) -> None:
        """Refresh every ``refresh_seconds`` on a daemon thread (it dies with the kernel)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="deploykit-console", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        # A preheated kernel of `deploykit console` waited for its visitor in from_env().
        while True:
            self.refresh()
            if self._stop.wait(self.refresh_seconds):
                return

    # -- navigation ------------------------------------------------------------------------

    def open(self, name: str) -> ModelView | None:
        """Show ``name``'s page (the overview's model buttons call this)."""
        with self._lock:
            page = self._guard(lambda: self._fetch(name, with_drift=True))
            if page is None:
                return None
            self._drift_at[name] = time.monotonic()
            view = self.pages.get(name)
            if view is None:
                view = self.pages[name] = ModelView(
                    self.client,
                    page,
                    access=self.access,
                    on_back=self.home,
                    on_change=self._changed,
                    on_period=self.set_period,
                    lock=self._lock,
                )
            else:
                view.show(page)
            self.current = name
            self.body.children = (view,)
            return view

    def _open(self, name: str) -> None:
        self.open(name)

    def _changed(self) -> None:
        self.refresh(with_drift=False)  # a deploy or rollback: show it now, drift can follow

    def home(self) -> None:
        """Back to the overview, refreshed."""
        with self._lock:
            self.current = None
            self.body.children = (self.overview,)
            self.refresh(with_drift=False)  # at once; the next background refresh adds drift

    def set_period(self, seconds: int) -> None:
        """Charts of the open model over the last ``seconds``."""
        with self._lock:
            self.period_seconds = seconds
            self._drift_at.pop(self.current, None)  # drift over the new period now
            self.refresh()

    # -- refreshing ------------------------------------------------------------------------

    def refresh(self, *, with_drift: bool | None = None) -> None:
        """Fetch the visible page again and update its widgets; a failure is shown, not raised.

        Drift comes along when ``with_drift``, or by default when the last drift of this
        page is ``drift_seconds`` old.
        """
        with self._lock:
            if self.access.role is None:  # the server was down, or the token refused: ask again
                self._check_access()
            name = self.current
            now = time.monotonic()
            if with_drift is None:
                with_drift = now - self._drift_at.get(name, -math.inf) >= self.drift_seconds
            if name is None:
                self._refresh_overview(with_drift)
            else:
                page = self._guard(lambda: self._fetch(name, with_drift))
                if page is not None:
                    self.pages[name].show(page)
            if with_drift and self.error is None:
                self._drift_at[name] = now
            self.refreshes += 1

    def _check_access(self) -> None:
        access = fetch_access(self.client)
        if access != self.access:
            self.access = access
            self.title.value = _title_html(self.client.url, access)
            self.pages.clear()  # model pages are rebuilt with the new rights when opened

    def _refresh_overview(self, with_drift: bool) -> None:
        drift_seconds = max(self.overview_seconds, 3600) if with_drift else None
        summaries = self._guard(
            lambda: fetch_overview(
                self.client, window_seconds=self.overview_seconds, drift_seconds=drift_seconds
            )
        )
        if summaries is None:
            return
        if with_drift:
            self._drift_shares = {s.name: s.drifted_share for s in summaries}
        else:
            summaries = [
                dataclasses.replace(s, drifted_share=self._drift_shares.get(s.name))
                for s in summaries
            ]
        self.overview.show(summaries, window_seconds=self.overview_seconds)

    def _fetch(self, name: str, with_drift: bool) -> ModelPage:
        page = fetch_model(
            self.client, name, window_seconds=self.period_seconds, with_drift=with_drift
        )
        view = self.pages.get(name)
        if not with_drift and view is not None and view.page.window_seconds == page.window_seconds:
            # keep the drift drawn last
            page = dataclasses.replace(page, drift=view.page.drift, drift_note=view.page.drift_note)
        return dataclasses.replace(page, evidence=self._evidence_of(page))

    def _evidence_of(self, page: ModelPage) -> Evidence | None:
        """What fired the page's latest alert; fetched once per alert (the past is fixed)."""
        found = latest_alert(page.events, seconds=page.window_seconds)
        if found is None:
            return None
        alert, rollback = found
        known = self._evidence.get(alert.id)
        if known is None or (known.rollback is None and rollback is not None):
            known = fetch_evidence(self.client, page.name, alert, rollback)
            if known.problem is None:  # a failure is asked again at the next refresh
                self._evidence[alert.id] = known
        return known

    def _guard(self, fetch: Any) -> Any:
        started = time.monotonic()
        try:
            result = fetch()
        except DeployKitError as exc:
            self._problem(str(exc))
            return None
        except Exception as exc:  # a refresh must never kill the thread or a click
            self._problem(f"{type(exc).__name__}: {exc}")
            return None
        self.error = None
        took = time.monotonic() - started
        self.status.value = (
            f'<span style="color:{MUTED}">updated {datetime.now():%H:%M:%S} '
            f"({took:.1f} s); refreshes every {self.refresh_seconds:g} s</span>"
        )
        return result

    def _problem(self, message: str) -> None:
        self.error = message
        self.status.value = (
            f'<span style="color:{BAD}">{html.escape(message)}</span> '
            f'<span style="color:{MUTED}">(retrying every {self.refresh_seconds:g} s)</span>'
        )


def _title_html(url: str, access: Access) -> str:
    who = (
        f"{html.escape(access.name or 'token')} ({html.escape(access.role)})"
        if access.role
        else "not signed in (see below)"
    )
    return (
        '<div style="display:flex;align-items:baseline;gap:12px">'
        '<h2 style="margin:4px 0">deploykit console</h2>'
        f'<span style="color:{MUTED}">{html.escape(url)} · {who}</span></div>'
    )
