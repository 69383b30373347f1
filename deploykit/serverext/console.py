"""The deploy console from JupyterLab: rendered by this Jupyter server, or judged before embedding.

- :func:`console_handlers` serves the console notebook shipped in the package at
  ``<base_url>/deploykit/console/`` through Voila's own handler, so a plain install with
  Voila shows it without copying any notebook into Jupyter's root. Its kernel inherits
  the Jupyter server's ``DEPLOYKIT_*`` variables (see ``app``): same server, same token.
- :func:`framing` tells whether a console on another host will let this Lab frame it
  (``Content-Security-Policy: frame-ancestors``, ``X-Frame-Options``): if not, the Lab opens
  it in a new browser tab and says why, instead of showing a blank frame.

Voila is imported only when its handler is built.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["console_handlers", "framing"]


def framing(url: str, origin: str, *, timeout: float = 3.0) -> dict[str, Any]:
    """Whether the page at ``url`` answers and may be framed by ``origin`` ("http://host:port").

    ``{"reachable": bool, "embed": bool, "reason": str | None}``; ``reason`` says, in the
    user's words, why it is not embedded.
    """
    try:
        # HEAD: the headers are all it takes, and a GET of a Voila page would run a kernel.
        # No redirects: a console that asks its visitor to sign in answers with a redirect
        # carrying the same framing headers as every page it serves.
        response = httpx.head(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        return {
            "reachable": False,
            "embed": False,
            "reason": f"No deploy console answers at {url} ({type(exc).__name__}). Start it "
            "with `deploykit console` (or `deploykit up`), then open it again.",
        }
    ancestors = _frame_ancestors(response.headers.get("content-security-policy", ""))
    page_origin = f"{response.url.scheme}://{response.url.netloc.decode()}"
    same = page_origin.rstrip("/") == origin.rstrip("/")
    if ancestors is not None:
        allowed = "*" in ancestors or origin in ancestors or (same and "'self'" in ancestors)
        if not allowed:
            return {
                "reachable": True,
                "embed": False,
                "reason": f"The console at {url} allows framing only by "
                f"{' '.join(ancestors) or 'nobody'}, not by this JupyterLab ({origin}): "
                "opened in a new tab. To see it inside JupyterLab, start it with "
                f"`deploykit console --frame-ancestors {origin}`.",
            }
    xfo = response.headers.get("x-frame-options", "").strip().upper()
    if ancestors is None and (xfo == "DENY" or (xfo == "SAMEORIGIN" and not same)):
        return {
            "reachable": True,
            "embed": False,
            "reason": f"The console at {url} refuses to be framed (X-Frame-Options {xfo}): "
            "opened in a new tab.",
        }
    return {"reachable": True, "embed": True, "reason": None}


def _frame_ancestors(policy: str) -> list[str] | None:
    for directive in policy.split(";"):
        parts = directive.split()
        if parts and parts[0].lower() == "frame-ancestors":
            return [p.rstrip("/") for p in parts[1:]]
    return None


def console_handlers(server_app: Any, path: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """``<path>`` (relative to the base URL) rendering the packaged console with Voila."""
    import tornado.web
    from jupyter_server.services.contents.filemanager import FileContentsManager
    from voila.configuration import VoilaConfiguration
    from voila.paths import collect_template_paths
    from voila.tornado.handler import TornadoVoilaHandler

    from deploykit.console.serve import EXTENSION_DENYLIST, notebook_path

    notebook = notebook_path()
    configuration = VoilaConfiguration(parent=server_app)
    # Voila loads every Lab extension into its page; this one needs JupyterLab itself.
    configuration.extension_denylist = [
        *configuration.extension_denylist,
        *EXTENSION_DENYLIST,
    ]
    configuration.show_tracebacks = False
    contents = FileContentsManager(root_dir=str(notebook.parent), parent=server_app)

    class ConsoleHandler(TornadoVoilaHandler):
        """Voila's page for the one packaged notebook, read from the package's folder."""

        @property
        def contents_manager(self) -> FileContentsManager:
            return contents

        @tornado.web.authenticated
        async def get(self, path: str | None = None) -> None:
            if "voila_jinja2_env" not in self.settings:
                self.set_status(503)
                self.finish(
                    "The deploy console needs Voila's server extension, which is disabled in "
                    "this Jupyter server: jupyter server extension enable voila, then restart."
                )
                return
            await super().get(path=None)

    template_paths = collect_template_paths(["voila", "nbconvert"], configuration.template)
    options = {
        "config": server_app.config,
        "template_paths": template_paths,
        "voila_configuration": configuration,
        "notebook_path": notebook.name,
    }
    return [(path.rstrip("/") + "/?", ConsoleHandler, options)]
