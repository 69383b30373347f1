from sklearn.tree import DecisionTreeClassifier

from deploykit.evaluation import EvaluationReport
from deploykit.records import Alias, ModelVersion
from deploykit.widgets import DeployPanel


def test_only_fitted_estimators_are_offered_and_data_is_guessed(namespace, session):
    panel = DeployPanel(namespace, session=session, name="churn")
    assert panel.model_picker.options == ("model", "stump")
    assert "X_test" in panel.X_picker.options
    assert "y_test" not in panel.X_picker.options
    assert (panel.X_picker.value, panel.y_picker.value) == ("X_test", "y_test")
    assert panel.train_picker.value == "X_train"
    assert panel.error is None


def test_evaluate_push_deploy(namespace, session):
    panel = DeployPanel(namespace, session=session, name="churn")
    report = panel.evaluate()
    assert isinstance(report, EvaluationReport)
    assert report.metrics["roc_auc"] > 0.9
    assert "<table" in panel.result.value
    assert "roc_auc" in panel.result.value

    panel.gate_box.value = "roc_auc>=0.9"
    version = panel.push()
    assert isinstance(version, ModelVersion)
    assert version.ref == "churn:1"
    assert version.metrics == report.metrics  # the evaluation went with it
    assert version.gate_passed is True
    assert version.signature is not None
    assert (panel.progress.value, panel.progress.bar_style) == (100, "success")
    assert "Pushed churn:1" in panel.feedback.message
    assert not panel.deploy_button.disabled
    assert panel.deploy_button.description == "Deploy v1"

    alias = panel.deploy(reason="first release")
    assert isinstance(alias, Alias)
    assert alias.version == 1
    assert panel.deploy_button.disabled
    assert session.backend.events("churn", limit=1)[0].reason == "first release"


def test_the_buttons_call_the_methods(namespace, session):
    panel = DeployPanel(namespace, session=session, name="churn")
    panel.evaluate_button.click()
    panel.push_button.click()
    assert panel.error is None
    assert [v.version for v in session.backend.versions("churn")] == [1]
    panel.deploy_button.click()
    assert session.backend.model("churn").production == 1


def test_user_errors_are_shown_in_the_panel(namespace, session):
    panel = DeployPanel(namespace, session=session)
    assert panel.push() is None
    assert panel.error == "Give the model a name (such as churn) before pushing."
    assert "Give the model a name" in panel.feedback.widget.value

    panel.name_box.value = "churn"
    panel.gate_box.value = "roc_auc>=0.9"
    assert panel.push() is None
    assert panel.error.startswith("A gate needs an evaluation of 'model'")

    assert panel.deploy() is None
    assert panel.error == "Push a version first: there is nothing to deploy yet."

    panel.name_box.value = "bad name!"
    panel.gate_box.value = ""
    assert panel.push() is None
    assert panel.error.startswith("The model name must be")


def test_an_unexpected_failure_on_click_lands_in_the_panel(namespace, session, fitted):
    class Broken(DecisionTreeClassifier):
        def predict_proba(self, X, check_input=True):
            raise RuntimeError("the GPU caught fire")

    namespace["broken"] = Broken(max_depth=2).fit(fitted["X_train"], fitted["y_train"])
    panel = DeployPanel(namespace, session=session, name="churn")
    panel.model_picker.value = "broken"
    panel.evaluate_button.click()
    assert "the GPU caught fire" in panel.error


def test_a_notebook_without_models_says_what_to_do(session):
    panel = DeployPanel({"threshold": 0.5}, session=session)
    assert panel.model_picker.options == ()
    assert panel.error.startswith("No fitted model in this notebook yet")
    assert panel.evaluate() is None
    assert panel.error == "Pick a model: no fitted estimator is selected."


def test_refresh_picks_up_new_variables_and_keeps_the_choice(namespace, session, fitted):
    panel = DeployPanel(namespace, session=session)
    panel.model_picker.value = "stump"
    namespace["model2"] = fitted["model"]
    panel.refresh()
    assert "model2" in panel.model_picker.options
    assert panel.model_picker.value == "stump"
