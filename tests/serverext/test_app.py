"""c.DeployKitLab settings, the kernels' target, and how deploykit registers itself."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from deploykit.errors import ConfigurationError
from deploykit.monitoring.results import DriftTimeline
from deploykit.serverext import DeployKitLab
from deploykit.serverext.deployments import _drift_share

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("DEPLOYKIT_SERVER_URL", "DEPLOYKIT_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DEPLOYKIT_HOME", str(tmp_path / "home"))


def test_unset_traits_fall_back_to_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DEPLOYKIT_SERVER_URL", "http://10.0.0.5:8765/")
    monkeypatch.setenv("DEPLOYKIT_TOKEN", "from-env")
    app = DeployKitLab()
    assert app.server_url == "http://10.0.0.5:8765"
    assert app.deploykit_settings().token == "from-env"
    assert DeployKitLab(token="configured").deploykit_settings().token == "configured"


def test_no_server_means_the_embedded_registry():
    assert DeployKitLab().server_url is None
    assert DeployKitLab(server_url="  ").server_url is None


@pytest.mark.parametrize(
    ("trait", "value", "message"),
    [
        ("server_url", "ftp://x", "must be an http(s) URL"),
        ("console_url", " ", "must be a path such as"),
        ("refresh_seconds", 0.5, "must be a number >= 1. Got 0.5 instead."),
        ("window_seconds", 10, "must be an integer in [60,"),
    ],
)
def test_a_bad_setting_fails_naming_it(trait: str, value: Any, message: str):
    with pytest.raises(ConfigurationError, match=trait) as err:
        DeployKitLab(**{trait: value})
    assert message in str(err.value)


def _feature(name: str, drifted: bool | None) -> dict[str, Any]:
    return {
        "feature": name,
        "kind": "numeric",
        "method": "psi",
        "score": 0.3 if drifted else 0.01,
        "threshold": 0.2,
        "drifted": drifted,
        "n_reference": 100,
        "n_current": 100,
    }


@pytest.mark.parametrize(
    ("features", "share"),
    [
        (
            [_feature("a", True), _feature("b", False), _feature("c", False), _feature("d", None)],
            1 / 3,
        ),
        ([_feature("a", None)], None),
        ([], None),
    ],
)
def test_the_drift_share_comes_from_the_monitoring_report(features, share):
    timeline = DriftTimeline.from_dict({"rows": 100, "features": features})
    assert _drift_share(timeline) == share
    assert _drift_share(timeline.to_dict()) == share


def test_import_deploykit_does_not_import_jupyter_server():
    code = "import sys, deploykit; print(sorted(m for m in sys.modules if 'jupyter' in m))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_jupyter_finds_the_extension_app_through_the_package():
    import deploykit

    (point,) = deploykit._jupyter_server_extension_points()
    assert point == {"module": "deploykit.serverext", "app": DeployKitLab}
    assert deploykit._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "deploykit-labextension"}
    ]


def test_the_wheel_and_the_labextension_share_one_version():
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["version"] == version("deploykit")
    assert package["jupyterlab"]["outputDir"] == "../deploykit/labextension"


def test_installing_enables_the_server_extension():
    config = json.loads((ROOT / "jupyter-config/server-config/deploykit.json").read_text())
    assert config == {"ServerApp": {"jpserver_extensions": {"deploykit": True}}}


def test_kernels_get_the_sidebars_server_and_token():
    app = DeployKitLab(server_url="http://127.0.0.1:9999", token="dk_lab")
    env, drop = app.kernel_environment()
    assert env == {"DEPLOYKIT_SERVER_URL": "http://127.0.0.1:9999", "DEPLOYKIT_TOKEN": "dk_lab"}
    assert drop == []


def test_kernels_of_an_embedded_sidebar_get_its_registry_and_no_server(tmp_path: Path):
    env, drop = DeployKitLab().kernel_environment()
    assert env["DEPLOYKIT_HOME"] == str(tmp_path / "home")
    assert env["DEPLOYKIT_DATABASE_URL"] == f"sqlite:///{tmp_path / 'home' / 'registry.db'}"
    assert drop == ["DEPLOYKIT_SERVER_URL"]


def test_the_console_opens_from_this_jupyter_when_voila_is_installed(monkeypatch):
    from deploykit.serverext import app as app_module

    served = DeployKitLab(server_url="http://127.0.0.1:8765")
    assert served.console() == {"kind": "jupyter", "url": "deploykit/console/", "reason": None}
    monkeypatch.setattr(app_module, "voila_installed", lambda: False)
    none = served.console()
    assert none["kind"] == "none"
    assert "pip install 'deploykit[console]'" in none["reason"]
    assert DeployKitLab(console_url="http://h:8766/console/").console()["kind"] == "external"


def test_an_embedded_lab_says_the_console_needs_a_server():
    found = DeployKitLab().console()
    assert found["kind"] == "none"
    assert "set c.DeployKitLab.server_url" in found["reason"]
