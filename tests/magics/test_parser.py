import pytest
from IPython.core.error import UsageError

from deploykit.magics.parser import SUBCOMMANDS, parse, split_words


def test_push_line_with_a_quoted_gate():
    command = parse(
        'push model --name churn --data X_train --gate "roc_auc>=0.9; roc_auc>=production-0.01" '
        "--deploy --description 'RF, 300 trees'"
    )
    assert command.name == "push"
    args = command.args
    assert (args.model, args.name, args.data) == ("model", "churn", "X_train")
    assert args.gate == "roc_auc>=0.9; roc_auc>=production-0.01"
    assert args.deploy is True
    assert args.description == "RF, 300 trees"
    assert args.format == "joblib"


def test_versions_are_numbers_and_aliases_stay_text():
    assert parse("deploy churn 3").args.version == 3
    assert parse("deploy churn latest").args.version == "latest"
    assert parse("rollback churn --to 2").args.to == 2


@pytest.mark.parametrize("line", ["", "-h", "--help"])
def test_no_subcommand_means_help(line):
    assert parse(line).name == "help"


def test_help_flag_on_a_subcommand_gives_its_help():
    command = parse("push --help")
    assert (command.name, command.args.topic) == ("help", "push")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("pus model", "Unknown %deploy subcommand 'pus' (did you mean 'push'?)"),
        ("push model", "%deploy push: the following arguments are required: --name"),
        ("evaluate model X_test", "the following arguments are required: y"),
        ("evaluate model X y --cv 1", "argument --cv: expected a number of folds >= 2, got '1'"),
        ("rollback churn --to two", "expected a version number such as 3, got 'two'"),
        ("push m --name a --format pickle", "invalid choice: 'pickle'"),
        ("push m --name a --bogus", "unrecognized arguments: --bogus"),
        ('target "http://x', "cannot split the line into words: No closing quotation"),
    ],
)
def test_a_bad_line_is_one_usage_error(line, expected):
    with pytest.raises(UsageError) as caught:
        parse(line)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message


def test_a_missing_argument_shows_the_usage():
    with pytest.raises(UsageError, match=r"Usage: %deploy push MODEL --name NAME"):
        parse("push model")


def test_every_subcommand_of_the_issue_is_there_with_an_example():
    wanted = {"help", "target", "evaluate", "push", "versions", "deploy", "rollback", "status"}
    wanted |= {"predict", "panel", "console"}
    assert wanted <= set(SUBCOMMANDS)
    for spec in SUBCOMMANDS.values():
        assert spec.example.startswith(f"%deploy {spec.name}")
        assert spec.usage.startswith(spec.name)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("push model --name churn", ["push", "model", "--name", "churn"]),
        (
            'rollback churn --reason "recall dropped"',
            ["rollback", "churn", "--reason", "recall dropped"],
        ),
        (
            "evaluate model X_test.iloc[:, :5] y_test",
            ["evaluate", "model", "X_test.iloc[:, :5]", "y_test"],
        ),
        (
            "predict churn X_test.to_numpy()[:3, :5]",
            ["predict", "churn", "X_test.to_numpy()[:3, :5]"],
        ),
        (
            'predict churn X_test.drop(columns=["mean radius"])[:3]',
            ["predict", "churn", 'X_test.drop(columns=["mean radius"])[:3]'],
        ),
        (
            "push m --gate 'roc_auc>=0.9; f1>=production'",
            ["push", "m", "--gate", "roc_auc>=0.9; f1>=production"],
        ),
        ("push m --description ''", ["push", "m", "--description", ""]),
        ("  versions   churn  ", ["versions", "churn"]),
    ],
)
def test_expressions_stay_whole_and_quotes_group_words(line, words):
    assert split_words(line) == words


@pytest.mark.parametrize("line", ['push m --reason "open', "predict m X[(1, 2]"])
def test_unbalanced_lines_are_refused(line):
    with pytest.raises(ValueError, match=r"closing quotation|unbalanced"):
        split_words(line)


def test_help_on_an_unknown_subcommand_is_one_line_with_a_suggestion():
    with pytest.raises(
        UsageError, match=r"No %deploy subcommand 'pussh' \(did you mean 'push'\?\)"
    ):
        parse("help pussh")
