"""The team console: every deployed model, its versions, serving and drift charts, rollback.

    from deploykit.console import Console
    Console.from_env().show()              # in a notebook, or served by Voila

    from deploykit.console import serve    # what `deploykit console` runs
    serve(settings, port=8766, server_url=url).wait_ready()   # visitors sign in

Modules, one layer each (imports point down):

- ``data`` — fetch from a :class:`deploykit.Client` into plain records
  (``frames`` shapes the answers' series into pandas frames).
- ``charts`` — pure functions: frames in, plotly figures out.
- ``parts`` / ``table`` / ``views`` — ipywidgets: formats, badges and the chart area; the
  versions table; the overview and a model's page.
- ``app`` — :class:`Console`: navigation and the background refresh.
- ``serve`` — Voila on the console notebook shipped in this package (no widget imports);
  ``voila_app`` (sign-in: ``signin``; kernels bound to visitors and culled: ``kernels``)
  is what it runs, ``visit`` what a kernel asks whom it serves.

``serve`` and ``console_url`` import nothing heavy; ``Console`` needs the ``console``
extra (ipywidgets, plotly, voila).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploykit._lazy import lazy_exports

if TYPE_CHECKING:
    from deploykit.console.app import Console
    from deploykit.console.serve import ConsoleProcess, console_url, notebook_path, serve

_LAZY = {
    "Console": "app",
    "ConsoleProcess": "serve",
    "console_url": "serve",
    "notebook_path": "serve",
    "serve": "serve",
}

__all__ = ["Console", "ConsoleProcess", "console_url", "notebook_path", "serve"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
