"""Pushing versions and reading them back."""

import math
import pickle
import warnings

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import deploykit
from deploykit.errors import (
    AliasNotFoundError,
    DeployKitWarning,
    InvalidInputError,
    ModelNotFoundError,
    NotAnEstimatorError,
    VersionNotFoundError,
)
from deploykit.registry import Registry, prepare_draft
from deploykit.signature import Signature


def test_push_numbers_versions_and_records_what_it_knows(reg, model, data):
    v = reg.push(model, "churn", description="LR baseline", params={"rows": 120})
    assert (v.model, v.version, v.ref) == ("churn", 1, "churn:1")
    assert v.format == "joblib"
    assert v.digest.startswith("sha256:")
    assert len(v.digest) == 71
    assert v.size == reg.artifact_path("churn", 1).stat().st_size
    assert v.estimator == "sklearn.linear_model.LogisticRegression"
    assert v.author == "tester"
    assert v.description == "LR baseline"
    assert v.params["C"] == 0.5
    assert v.params["rows"] == 120
    assert v.environment["scikit-learn"]
    assert v.created_at.tzinfo is not None
    assert v.aliases == ()
    assert v.gate is None
    assert v.evaluation is None
    assert v.metrics == {}
    # Without X the signature still names the columns the model was fitted on.
    assert [c["name"] for c in v.signature["inputs"]] == ["age", "tenure", "calls", "spend"]
    assert Signature.from_dict(v.signature).validate(data[0].head(3)).shape == (3, 4)
    assert reg.push(model, "churn", author="alice").author == "alice"


def test_versions_are_ascending_and_per_model(reg, model):
    for _ in range(3):
        reg.push(model, "churn")
    reg.push(model, "fraud")
    assert [v.version for v in reg.versions("churn")] == [1, 2, 3]
    assert [v.version for v in reg.versions("fraud")] == [1]
    assert [(m.name, m.latest_version) for m in reg.models()] == [("churn", 3), ("fraud", 1)]


def test_identical_models_share_one_stored_artifact(reg, model, deploykit_home):
    a = reg.push(model, "churn")
    b = reg.push(model, "churn")
    assert a.digest == b.digest
    assert a.version != b.version
    stored = [p for p in (deploykit_home / "artifacts" / "sha256").rglob("*") if p.is_file()]
    assert len(stored) == 1


def test_version_references(reg, model):
    for _ in range(3):
        reg.push(model, "churn")
    reg.deploy("churn", 2)
    assert reg.version("churn").version == 2
    assert reg.version("churn", "production").version == 2
    assert reg.version("churn", 3).version == 3
    assert reg.version("churn", "1").version == 1
    assert reg.version("churn", "latest").version == 3
    assert reg.version("churn", 2).aliases == ("production",)


def test_unknown_things_are_named_with_a_way_forward(reg, model):
    reg.push(model, "churn")
    with pytest.raises(ModelNotFoundError) as info:
        reg.version("chrn")
    assert str(info.value) == "No model named 'chrn' (did you mean 'churn'?)"
    with pytest.raises(VersionNotFoundError) as info:
        reg.version("churn", 9)
    assert str(info.value) == "Model 'churn' has no version 9 (latest is 1)"
    with pytest.raises(AliasNotFoundError) as info:
        reg.version("churn")
    assert str(info.value) == (
        "Model 'churn' has no alias 'production' yet: deploy a version first with "
        "reg.deploy('churn', VERSION), `%deploy deploy churn VERSION` "
        "or `deploykit deploy churn VERSION`."
    )
    with pytest.raises(InvalidInputError, match="version reference"):
        reg.version("churn", 0)
    with pytest.raises(ModelNotFoundError, match="known models: 'churn'"):
        reg.versions("something-else")


def test_bad_model_names_and_non_estimators_are_refused_before_anything_is_stored(
    reg, model, deploykit_home
):
    with pytest.raises(InvalidInputError, match="model name"):
        reg.push(model, "churn model")
    with pytest.raises(NotAnEstimatorError):
        reg.push({"weights": [1, 2]}, "churn")
    assert reg.models() == []
    assert reg.last_event_id() == 0
    assert not list((deploykit_home / "artifacts" / "sha256").rglob("*.*"))


def test_push_with_evaluation_records_metrics_and_gate(reg, model, data):
    X, y = data
    report = deploykit.evaluate(model, X, y)
    v = reg.push(model, "churn", evaluation=report, gate="accuracy >= 0.5")
    assert v.metrics == pytest.approx(report.metrics)
    assert v.evaluation["task"] == "binary"
    assert v.gate_passed is True
    assert v.gate["expression"]
    assert reg.events(action="push")[0].details["gate_passed"] is True


def test_a_gate_needs_an_evaluation(reg, model):
    with pytest.raises(InvalidInputError) as info:
        reg.push(model, "churn", gate="accuracy >= 0.5")
    assert str(info.value) == (
        "a gate needs an evaluation: call deploykit.evaluate(...) and pass evaluation=report"
    )


def test_push_deploy_moves_production_when_the_gate_passes(reg, model, data):
    X, y = data
    report = deploykit.evaluate(model, X, y)
    v = reg.push(model, "churn", evaluation=report, gate="accuracy >= 0.5", deploy=True)
    assert v.aliases == ("production",)
    assert reg.model("churn").production == 1
    assert [e.action for e in reversed(reg.events())] == ["push", "deploy"]


def test_push_deploy_with_a_failing_gate_leaves_production_unchanged(reg, model, data):
    X, y = data
    reg.push(model, "churn", deploy=True)
    report = deploykit.evaluate(model, X, y)
    with pytest.warns(DeployKitWarning, match="churn:2 was pushed but not deployed"):
        v = reg.push(model, "churn", evaluation=report, gate="accuracy >= 0.999", deploy=True)
    assert v.version == 2
    assert v.aliases == ()
    assert v.gate_passed is False
    assert reg.model("churn").production == 1
    assert [e.action for e in reg.events()][:1] == ["push"]


def test_push_without_deploy_never_moves_production(reg, model):
    reg.push(model, "churn", deploy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.push(model, "churn")
    assert reg.model("churn").production == 1


def test_params_are_made_json_safe(reg, data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=3, max_features=np.float64(0.5), random_state=0)
    forest.fit(X, y)
    v = reg.push(forest, "forest", params={"nan": math.nan, "arr": np.arange(2), "obj": object})
    assert v.params["max_features"] == 0.5
    assert isinstance(v.params["max_features"], float)
    assert v.params["nan"] is None
    assert v.params["obj"] == "<class 'object'>"
    assert v.params["arr"].startswith("array(")


def test_push_file_stores_the_files_own_bytes(reg, model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    v = reg.push_file(path, "churn", description="from CI")
    assert v.format == "joblib"
    assert v.estimator.endswith("LogisticRegression")
    assert reg.artifact_path("churn", v.version).read_bytes() == path.read_bytes()
    assert v.signature is not None
    with pytest.raises(InvalidInputError, match="does not exist"):
        reg.push_file(tmp_path / "missing.joblib", "churn")


def test_push_file_refuses_a_file_that_holds_no_estimator(reg, tmp_path):
    path = tmp_path / "not-a-model.joblib"
    with open(path, "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(NotAnEstimatorError):
        reg.push_file(path, "churn", format="joblib")
    assert reg.models() == []


def test_register_a_draft_whose_artifact_was_uploaded_first(reg, model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    stored = reg.artifacts.put_file(path)
    draft = prepare_draft(model, format="joblib", digest=stored.digest, size=stored.size)
    wire = type(draft).from_dict(draft.to_dict())  # as the HTTP client sends it
    v = reg.register("churn", wire, deploy=True)
    assert v.version == 1
    assert v.digest == stored.digest
    assert v.aliases == ("production",)
    assert reg.load("churn").coef_.tolist() == model.coef_.tolist()


def test_register_verifies_the_artifact(reg, model):
    stored = reg.artifacts.put_stream([b"some bytes"])
    good = prepare_draft(model, format="joblib", digest=stored.digest, size=stored.size)
    with pytest.raises(InvalidInputError, match="upload the artifact"):
        reg.register("churn", good.with_artifact("sha256:" + "0" * 64, 10))
    with pytest.raises(InvalidInputError, match="10 bytes"):
        reg.register("churn", good.with_artifact(stored.digest, 11))
    with pytest.raises(InvalidInputError, match="sha256:<64 hex digits>"):
        reg.register("churn", good.with_artifact("md5:abc", 10))
    assert reg.models() == []


def test_a_second_registry_on_the_same_home_sees_everything(reg, model):
    reg.push(model, "churn", deploy=True)
    with Registry() as other:
        assert other.version("churn").version == 1
        other.push(LogisticRegression().fit([[0], [1]], [0, 1]), "churn")
    assert reg.model("churn").latest_version == 2


def test_push_with_training_data_records_signature_fingerprint_and_profile(reg, model, data):
    X, _ = data
    v = reg.push(model, "churn", X=X, deploy=True)
    assert [c["name"] for c in v.signature["inputs"]] == list(X.columns)
    assert {c["dtype"] for c in v.signature["inputs"]} == {"float64"}
    assert v.data_fingerprint["rows"] == len(X)
    assert v.data_fingerprint["columns"] == list(X.columns)
    profile = reg.profile("churn")
    assert profile.rows == len(X)
    assert profile.columns == list(X.columns)
    assert reg.profile("churn", 1) == profile
    # The same data gives the same fingerprint; other data another.
    again = reg.push(model, "churn", X=X.copy())
    other = reg.push(model, "churn", X=X.iloc[:50])
    assert again.data_fingerprint == v.data_fingerprint
    assert other.data_fingerprint["sha256"] != v.data_fingerprint["sha256"]


def test_push_refuses_training_data_that_does_not_fit_the_model(reg, model, data):
    X, _ = data
    with pytest.raises(InvalidInputError, match="4 features"):
        reg.push(model, "churn", X=X.iloc[:, :2])
    assert reg.models() == []
