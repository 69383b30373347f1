"""Exporting a model version to run without deploykit: a container build context.

    from deploykit.export import export_docker
    export_docker(Registry(), "churn", 3, "build/churn-3")

``deploykit export NAME --version V --docker DIR`` is the same from a shell.
"""

from deploykit.export._docker import ExportResult, export_docker

__all__ = ["ExportResult", "export_docker"]
