"""Every %deploy subcommand and every user error, in an in-process IPython shell."""

import re
import socket
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from deploykit.evaluation import EvaluationReport
from deploykit.magics import load_ipython_extension, unload_ipython_extension
from deploykit.magics.help import HelpText
from deploykit.records import Alias, ModelVersion
from deploykit.ui.results import ConsoleLink, ModelStatus, Prediction, RecordList


def shown(ip, value):
    """What Jupyter would show for ``value``: (html, text)."""
    data, _ = ip.display_formatter.format(value)
    return data.get("text/html", ""), data["text/plain"]


# -- help, target, console -------------------------------------------------------------------


def test_help_lists_every_subcommand_with_an_example(deploy, ip):
    result = deploy("help")
    assert isinstance(result, HelpText)
    html, text = shown(ip, result)
    assert "%deploy push model --name churn" in text
    assert "%deploy rollback churn" in text
    assert "<table" in html
    assert deploy("") == HelpText(None)
    assert "deploy NAME VERSION" in shown(ip, deploy("help deploy"))[1]


def test_target_defaults_to_the_embedded_registry(deploy, ip, deploykit_home):
    target = deploy("target")
    assert target.embedded
    assert str(deploykit_home) in target.location
    assert "embedded registry" in shown(ip, target)[1]


def test_target_rejects_what_is_not_a_url(deploy_fails):
    message = deploy_fails("target ftp://example")
    assert message.startswith("%deploy target expects a server URL such as http://127.0.0.1:8765")


def test_target_with_an_unset_token_variable_says_so(deploy_fails, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    message = deploy_fails("target http://127.0.0.1:8765 --token-env NO_SUCH_TOKEN")
    assert message.startswith("The environment variable NO_SUCH_TOKEN is not set or empty")


def test_target_an_unreachable_server_is_one_line_and_keeps_the_old_target(
    deploy, deploy_fails, session
):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = deploy_fails(f"target http://127.0.0.1:{port}")
    assert message.startswith(f"Cannot reach the deploykit server at http://127.0.0.1:{port}")
    assert session.embedded
    assert deploy("target embedded").embedded


def test_console_link_says_how_to_start_it(deploy, ip):
    link = deploy("console")
    assert isinstance(link, ConsoleLink)
    assert link.url == "http://127.0.0.1:8766/console/"  # where `deploykit up` serves it
    assert "deploykit up" in link.note
    assert 'href="http://127.0.0.1:8766/console/"' in shown(ip, link)[0]


# -- evaluate and push ---------------------------------------------------------------------


def test_evaluate_returns_a_report_shown_as_a_table(nb, deploy):
    report = deploy("evaluate model X_test y_test")
    assert isinstance(report, EvaluationReport)
    assert report.task == "binary"
    assert report.metrics["roc_auc"] > 0.9
    html, text = shown(nb, report)
    assert "<table" in html
    assert "roc_auc" in html
    assert "baseline" in text


def test_evaluate_compares_with_the_live_version_and_colours_deltas(nb, deploy):
    deploy("evaluate model X_test y_test --name churn")
    deploy("push model --name churn --deploy")
    nb.run_cell(
        "from sklearn.tree import DecisionTreeClassifier\n"
        "tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)"
    )
    report = deploy("evaluate tree X_test y_test --name churn")
    assert report.production_version == 1
    assert report.delta()["roc_auc"] < 0  # a stump is worse than the logistic regression
    html, _ = shown(nb, report)
    assert "Δ vs production" in html
    assert "#cf222e" in html


def test_push_attaches_the_remembered_evaluation(nb, deploy, capsys):
    report = deploy("evaluate model X_test y_test --name churn")
    capsys.readouterr()
    version = deploy("push model --name churn --data X_train")
    out = capsys.readouterr().out
    assert isinstance(version, ModelVersion)
    assert (version.ref, version.aliases) == ("churn:1", ())
    assert version.metrics == pytest.approx(report.metrics)
    assert version.signature is not None  # from --data
    # start and end of the progress, then the version card
    assert out.splitlines()[0] == "Pushing churn …"
    assert out.splitlines()[1].startswith("Pushed churn:1 (")
    assert "deploy it with %deploy deploy churn 1" in out
    assert "churn:1  sklearn.pipeline.Pipeline" in out
    # the runtime chosen at push and the speed-up measured on the sample
    assert re.search(r"; runs on onnx \(\d+× faster on 1 row\)", out.splitlines()[1])


def test_push_with_a_passing_gate_and_deploy_goes_live(nb, deploy, capsys):
    deploy("evaluate model X_test y_test --name churn")
    version = deploy(
        'push model --name churn --gate "roc_auc>=0.9; roc_auc>=production-0.01" --deploy'
    )
    assert version.aliases == ("production",)
    assert version.gate_passed is True
    out = capsys.readouterr().out
    assert "gate passed (1/1 checked, 1 not checked: no production version" in out
    assert "production → 1" in out
    # every output that moved something says where: here the embedded registry
    assert ") → embedded registry at sqlite:///" in out
    deploy("push model --name churn")
    out = capsys.readouterr().out
    assert "runs on sklearn: no data to verify the compiled model against (push with X)" in out
    deploy("deploy churn 2")
    moved = capsys.readouterr().out
    assert moved.startswith("churn: production → version 2 (embedded registry at sqlite:///")


def test_push_with_a_failing_gate_does_not_deploy(nb, deploy, capsys):
    deploy("evaluate model X_test y_test --name churn")
    deploy("push model --name churn --deploy")
    capsys.readouterr()
    # filterwarnings=error: the registry's "not deployed" warning must not escape the magic
    version = deploy('push model --name churn --gate "roc_auc>=0.999" --deploy')
    out = capsys.readouterr().out
    assert version.version == 2
    assert version.aliases == ()
    assert "gate failed: roc_auc" in out
    assert "not deployed because the gate failed; production stays at version 1" in out
    assert deploy("status churn").live_version == 1


def test_a_gate_without_an_evaluation_is_a_usage_error(nb, deploy_fails):
    message = deploy_fails('push model --name churn --gate "roc_auc>=0.9"')
    assert message == (
        "A gate needs an evaluation of 'model': run %deploy evaluate model X_test y_test "
        "--name churn first."
    )


def test_a_typo_in_the_gate_fails_before_anything_is_pushed(nb, deploy, deploy_fails):
    deploy("evaluate model X_test y_test --name churn")
    message = deploy_fails('push model --name churn --gate "roc_acu>=0.9"')
    assert "unknown metric 'roc_acu' (did you mean 'roc_auc'?)" in message
    assert deploy("models") == []


def test_a_refit_model_is_not_pushed_with_its_old_evaluation(nb, deploy, deploy_fails, capsys):
    deploy("evaluate model X_test y_test --name churn")
    nb.run_cell("model.set_params(logisticregression__C=0.01).fit(X_train, y_train)")
    message = deploy_fails('push model --name churn --gate "roc_auc>=0.9"')
    assert message.startswith("'model' changed since it was evaluated (refit?)")
    capsys.readouterr()
    version = deploy("push model --name churn")
    assert version.evaluation is None
    assert (
        "evaluation not attached: 'model' changed since it was evaluated" in capsys.readouterr().out
    )


def test_an_evaluation_without_a_name_is_redone_against_production_at_push(nb, deploy):
    deploy("evaluate model X_test y_test --name churn")
    deploy("push model --name churn --deploy")
    nb.run_cell(
        "from sklearn.tree import DecisionTreeClassifier\n"
        "tree = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X_train, y_train)"
    )
    deploy("evaluate tree X_test y_test")  # no --name: nothing to compare with yet
    # The gate compares with production, so the push measures production on the same rows.
    version = deploy('push tree --name churn --gate "roc_auc>=production-0.01" --deploy')
    assert version.gate_passed is False
    assert version.evaluation["production_version"] == 1


def test_push_of_a_variable_that_is_no_model(nb, deploy_fails):
    message = deploy_fails("push X_train --name churn")
    assert message.startswith("'X_train' is a DataFrame, not a model")


def test_a_typo_in_a_variable_name_suggests_the_right_one(nb, deploy_fails):
    assert deploy_fails("push modle --name churn") == (
        "No variable named 'modle' in this notebook (did you mean 'model'?)"
    )
    assert "did you mean 'X_test'" in deploy_fails("evaluate model X_tset y_test")


def test_a_bad_model_name_is_one_line(nb, deploy_fails):
    message = deploy_fails("push model --name 'churn model'")
    assert message.startswith("The model name must be 1 to 128 characters")


# -- versions, deploy, rollback --------------------------------------------------------------


@pytest.fixture
def two_versions(nb, deploy, capsys):
    deploy("evaluate model X_test y_test --name churn")
    deploy("push model --name churn --data X_train --deploy")
    nb.run_cell(
        "from sklearn.ensemble import RandomForestClassifier\n"
        "forest = RandomForestClassifier(n_estimators=10, random_state=0)"
        ".fit(X_train, y_train)"
    )
    deploy("evaluate forest X_test y_test --name churn")
    deploy("push forest --name churn --data X_train --deploy")
    capsys.readouterr()
    return nb


def test_versions_table(two_versions, deploy):
    versions = deploy("versions churn")
    assert isinstance(versions, RecordList)
    assert len(versions) == 2
    assert [v.version for v in versions] == [1, 2]
    html, text = shown(two_versions, versions)
    assert text.splitlines()[0] == "churn: 2 versions"
    assert html.count("<tr>") == 3
    assert "● 2" in html


def test_deploy_and_rollback_move_production(two_versions, deploy):
    alias = deploy('rollback churn --reason "recall dropped"')
    assert isinstance(alias, Alias)
    assert (alias.name, alias.version) == ("production", 1)
    assert deploy("deploy churn 2").version == 2
    assert deploy("deploy churn 1 --alias staging").name == "staging"
    assert deploy("rollback churn --to 1").version == 1
    assert "churn: production → version 1" in shown(two_versions, alias)[1]
    events = deploy("events churn")
    assert events[-1].action == "push"
    assert any(e.reason == "recall dropped" for e in events)


def test_deploying_a_missing_version_names_the_latest(two_versions, deploy_fails):
    assert deploy_fails("deploy churn 9") == "Model 'churn' has no version 9 (latest is 2)"


def test_deploying_a_word_that_is_no_version_says_what_version_takes(
    two_versions, deploy, deploy_fails
):
    assert deploy_fails("deploy churn abc") == (
        "VERSION must be a number, 'latest' or an alias the model has (production); got 'abc'."
    )
    assert deploy("deploy churn production --alias staging").version == 2  # an alias it has
    message = deploy_fails("deploy churn abc --alias staging")
    assert "an alias the model has (production, staging); got 'abc'." in message
    assert deploy("deploy churn latest").version == 2
    # elsewhere a missing alias still means "deploy a version to it first"
    message = deploy_fails("predict churn X_test --version canary")
    assert message.startswith("Model 'churn' has no alias 'canary' yet: deploy a version first")


def test_unknown_model_suggests_a_close_name(two_versions, deploy_fails):
    assert "did you mean 'churn'" in deploy_fails("versions chrun")


def test_nothing_to_roll_back_to(nb, deploy, deploy_fails):
    deploy("push model --name churn --deploy")
    assert "no earlier production version" in deploy_fails("rollback churn")


# -- status, predict, models, panel ----------------------------------------------------------


def test_status_without_a_server_shows_what_is_known(two_versions, deploy):
    status = deploy("status churn")
    assert isinstance(status, ModelStatus)
    assert status.live_version == 2
    assert status.last_move is not None
    assert status.last_move.to_version == 2
    assert status.serving is None
    assert "%deploy target http://127.0.0.1:8765" in status.note
    everything = deploy("status")
    assert isinstance(everything, RecordList)
    assert [s.model for s in everything] == ["churn"]
    text = shown(two_versions, status)[1]
    assert "live         version 2" in text
    assert "come from a deploykit server: run `deploykit serve`" in text
    assert "deployed: In production." in text
    assert text.count("deploykit server") == 1  # said once, with how to start one


def test_predict_with_the_embedded_registry(two_versions, deploy):
    prediction = deploy("predict churn X_test[:5] --proba")
    assert isinstance(prediction, Prediction)
    assert prediction.version == 2
    expected = two_versions.user_ns["forest"].predict(two_versions.user_ns["X_test"][:5])
    assert prediction.predictions == expected.tolist()
    assert prediction.classes == [0, 1]
    assert len(prediction.probabilities) == 5
    assert "churn:2 predicted 5 row(s)" in shown(two_versions, prediction)[1]
    assert deploy("predict churn X_test[:5] --version 1").version == 1


def test_predict_data_with_the_wrong_columns_is_one_line(two_versions, deploy_fails):
    message = deploy_fails("predict churn X_test.drop(columns=['mean radius'])")
    assert "mean radius" in message


def test_models_lists_every_model(two_versions, deploy):
    models = deploy("models")
    assert [m.name for m in models] == ["churn"]
    assert models[0].production == 2


def test_panel_shares_the_session(nb, deploy, session):
    panel = deploy("panel churn")
    assert type(panel).__name__ == "DeployPanel"
    assert panel.session is session
    assert panel.name_box.value == "churn"


# -- the extension itself --------------------------------------------------------------------


def test_a_magic_error_raised_from_code_is_a_usage_error(nb):
    with pytest.raises(UsageError, match="No variable named 'nope'"):
        nb.run_line_magic("deploy", "push nope --name churn")


def test_records_display_as_html_only_while_the_extension_is_loaded(ip, two_versions, deploy):
    version = deploy("versions churn")[0]
    assert "<b>churn</b> version <b>1</b>" in shown(ip, version)[0]
    unload_ipython_extension(ip)
    assert shown(ip, version)[0] == ""
    assert shown(ip, version)[1].startswith("ModelVersion(")
    assert "deploy" not in ip.magics_manager.magics["line"]
    load_ipython_extension(ip)


def test_import_deploykit_does_not_import_ipython():
    code = (
        "import sys, deploykit; deploykit.Registry; "
        "assert deploykit.load_ipython_extension; "
        "bad = {'IPython', 'ipywidgets', 'plotly'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_evaluate_with_cross_validation(nb, deploy):
    report = deploy("evaluate model X_test y_test --cv 3")
    assert set(report.cv["roc_auc"]) == {"mean", "std"}
    html, text = shown(nb, report)
    assert "cv mean ± std" in html
    assert "cv mean ± std" in text


def test_push_as_skops_and_predict_from_it(nb, deploy):
    version = deploy("push model --name churn --format skops --deploy")
    assert version.format == "skops"
    prediction = deploy("predict churn X_test[:3]")
    assert prediction.predictions == nb.user_ns["model"].predict(nb.user_ns["X_test"][:3]).tolist()
