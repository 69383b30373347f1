"""Loading: only bytes matching the digest recorded at push are deserialized."""

import pathlib
import pickle

import pytest

from deploykit.errors import ArtifactIntegrityError, EnvironmentMismatchWarning
from deploykit.registry import Registry


class _Trap:
    """Unpickling this touches a file: proof that a tampered artifact was (not) loaded."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_load_returns_the_model_pushed(reg, model, data):
    X, _ = data
    reg.push(model, "churn", deploy=True)
    loaded = reg.load("churn")
    assert loaded is not model
    assert (loaded.predict(X) == model.predict(X)).all()
    assert type(reg.load("churn", 1)) is type(model)


def test_tampered_artifact_is_refused_and_never_unpickled(reg, model, tmp_path):
    v = reg.push(model, "churn", deploy=True)
    path = reg.artifact_path("churn")
    marker = tmp_path / "unpickled"
    path.chmod(0o644)
    path.write_bytes(pickle.dumps(_Trap(marker)))
    with pytest.raises(ArtifactIntegrityError, match=v.digest):
        reg.load("churn")
    with pytest.raises(ArtifactIntegrityError):
        reg.artifact_path("churn")
    assert not marker.exists()


def test_load_warns_when_the_environment_differs(reg, model, tmp_path, deploykit_home):
    reg.push(model, "churn", deploy=True)
    # Pretend the version was pushed under another scikit-learn.
    with reg.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE versions SET environment = json_set(environment, '$.\"scikit-learn\"', '0.1')"
        )
    with pytest.warns(EnvironmentMismatchWarning, match="scikit-learn"):
        reg.load("churn")


def test_skops_versions_load_with_the_trusted_types_setting(reg, model, data):
    X, _ = data
    v = reg.push(model, "churn", format="skops")
    assert v.format == "skops"
    assert (reg.load("churn", v.version).predict(X) == model.predict(X)).all()


def test_profile_is_none_without_training_data(reg, model):
    reg.push(model, "churn", deploy=True)
    assert reg.profile("churn") is None


def test_loading_from_another_registry_instance(reg, model, data):
    X, _ = data
    reg.push(model, "churn", deploy=True)
    with Registry() as other:
        assert (other.load("churn").predict(X) == model.predict(X)).all()
