"""The jupyter-server extension behind the JupyterLab "Deployments" sidebar.

Enabled on install by ``etc/jupyter/jupyter_server_config.d/deploykit.json``;
``deploykit._jupyter_server_extension_points`` points Jupyter here, so
``import deploykit`` never imports jupyter_server. Routes, all authenticated::

    GET  /deploykit/api/status                    where figures come from, console URL
    GET  /deploykit/api/models                    every model: live version and figures
    GET  /deploykit/api/models/{name}             its versions and recent alias moves
    POST /deploykit/api/models/{name}/rollback    {"reason": "...", "to": null | int,
                                                   "if_current": null | int}

They talk to the deploykit server configured with ``c.DeployKitLab.server_url``
(or ``DEPLOYKIT_SERVER_URL``), keeping its token on this side, or to the
embedded registry when no server is configured. Modules: ``app`` (settings and
lifetime), ``handlers`` (HTTP), ``deployments`` (what is shown; no Jupyter).
"""

from deploykit.serverext.app import DeployKitLab
from deploykit.serverext.deployments import Deployments

__all__ = ["DeployKitLab", "Deployments"]
