"""Deploy widgets for notebooks, built from stock ipywidgets.

* :class:`DeployPanel`: pick a fitted model and data, Evaluate, Push, Deploy.
* :class:`VersionsTable`: a model's versions, Deploy per row and Roll back, with a confirm step.
* :class:`StatusView`: live version, serving figures and a small plotly chart.

Actions are methods (``panel.push()``, ``table.deploy(2, reason=...)``), so code
and tests drive the widgets without a browser. They share the ``%deploy``
magic's session (target and remembered evaluations) when the magic is loaded.

The panel and the versions table are defined in :mod:`deploykit.ui`, because
the magic (``%deploy panel``) and the console show them too.
"""

from deploykit.ui.panel import DeployPanel
from deploykit.ui.versions import VersionsTable
from deploykit.widgets.status import StatusView, status_figure

__all__ = ["DeployPanel", "StatusView", "VersionsTable", "status_figure"]
