"""The small things a data scientist trips on: comments, probability tables, repeats, extras."""

from __future__ import annotations

from deploykit.magics.parser import parse, split_words

from .test_commands import shown


def test_a_comment_on_a_magic_line_is_ignored() -> None:
    assert split_words("push model --name churn  # first try") == [
        "push",
        "model",
        "--name",
        "churn",
    ]
    assert split_words("predict churn X[X.a == '#1']  #note") == [
        "predict",
        "churn",
        "X[X.a == '#1']",
    ]
    assert split_words('events --reason "bug #12"') == ["events", "--reason", "bug #12"]
    assert split_words("push m#1 --name x") == ["push", "m#1", "--name", "x"]  # not a word start
    assert parse("versions churn # which ones?").args.name == "churn"


def test_proba_shows_a_table_of_the_rows_shown(nb, deploy) -> None:
    deploy("push model --name churn --data X_train --deploy")
    prediction = deploy("predict churn X_test[:12] --proba  # a dozen rows")
    html, text = shown(nb, prediction)
    lines = text.splitlines()
    assert lines[1].split() == ["row", "prediction", "P(0)", "P(1)"]
    first = lines[2].split()
    assert first[:2] == ["0", str(prediction.predictions[0])]
    assert [float(x) for x in first[2:]] == [round(p, 3) for p in prediction.probabilities[0]]
    assert len([line for line in lines if line.strip()[:1].isdigit()]) == 10
    assert lines[-1].strip() == "… 2 more row(s); the returned object holds all"
    assert html.count("<tr>") == 11  # header and ten rows


def test_pushing_the_same_model_again_says_it_is_identical(nb, deploy, capsys) -> None:
    deploy("push model --name churn --data X_train")
    capsys.readouterr()
    deploy("push model --name churn --data X_train")
    out = capsys.readouterr().out
    assert "Pushed churn:2" in out
    assert "identical to version 1 (the same artifact bytes)" in out


def test_extra_columns_are_ignored_and_said(nb, deploy) -> None:
    deploy("push model --name churn --data X_train --deploy")
    nb.run_cell(
        "rows = X_test[:3].assign(customer_id=[7, 8, 9])\n"
        "rows = rows[X_test.columns[::-1].tolist() + ['customer_id']]"
    )
    prediction = deploy("predict churn rows")
    assert prediction.ignored_columns == ["customer_id"]
    assert prediction.predictions == nb.user_ns["model"].predict(nb.user_ns["X_test"][:3]).tolist()
    assert "ignored column(s) the model does not take: 'customer_id'" in shown(nb, prediction)[1]


def test_push_with_nullable_columns(nb, deploy) -> None:
    version = deploy("push model --name churn --data X_train --nullable 'mean radius,mean area'")
    by = {c["name"]: c.get("nullable_by") for c in version.signature["inputs"]}
    assert by["mean radius"] == by["mean area"] == "user"
    assert by["mean texture"] == "probe"
