"""The jupyter-server extension behind the JupyterLab "Deployments" sidebar.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/deploykit.json``;
``deploykit._jupyter_server_extension_points`` points Jupyter here, so
``import deploykit`` never imports jupyter_server. Routes, all authenticated::

    GET  /deploykit/api/status                    where figures come from, who acts, window
    GET  /deploykit/api/console                   how the console opens (tab, new tab, not)
    GET  /deploykit/api/models                    every model: live version and the badge
    GET  /deploykit/api/models/{name}             its versions, moves, rollback targets
    POST /deploykit/api/models/{name}/rollback    {"reason": "...", "to": null | int,
                                                   "if_current": null | int}
    POST /deploykit/api/models/{name}/deploy      {"version": int, "reason": null | "...",
                                                   "if_current": null | int}
    GET  /deploykit/console/                      the packaged console, rendered by Voila

They talk to the deploykit server configured with ``c.DeployKitLab.server_url``
(or ``DEPLOYKIT_SERVER_URL``), keeping its token on this side, or to the
embedded registry when no server is configured; kernels started here get the same
target. Modules: ``app`` (settings, lifetime, kernels' target), ``handlers`` (HTTP),
``deployments`` (what is shown; no Jupyter), ``console`` (the console in Lab).
"""

from deploykit.serverext.app import DeployKitLab
from deploykit.serverext.deployments import Deployments

__all__ = ["DeployKitLab", "Deployments"]
