from deploykit.records import Alias
from deploykit.widgets import VersionsTable

COLUMNS = 8


def test_one_row_per_version_and_the_live_one_cannot_be_redeployed(churn):
    table = VersionsTable("churn", session=churn)
    assert [v.version for v in table.versions] == [1, 2]
    assert len(table.grid.children) == COLUMNS * 3  # header + 2 rows
    assert table.live_version == 2
    assert table.row_buttons[2].disabled
    assert table.rollback_buttons[2].disabled
    assert not table.row_buttons[1].disabled
    assert not table.rollback_buttons[1].disabled
    assert "● " in table.grid.children[COLUMNS * 2].value  # version 2's first cell
    assert "2 versions" in table.title.value


def test_a_row_click_asks_before_deploying(churn):
    table = VersionsTable("churn", session=churn)
    table.row_buttons[1].click()
    assert table.pending == ("deploy", 1)
    assert table.confirm_box.layout.display is None  # visible
    assert "version <b>1</b> to production (now on 2)" in table.question.value
    assert churn.backend.model("churn").production == 2  # nothing moved yet

    table.reason_box.value = "stump is too simple"
    table.confirm_button.click()
    assert churn.backend.model("churn").production == 1
    assert churn.backend.events("churn", limit=1)[0].reason == "stump is too simple"
    assert table.confirm_box.layout.display == "none"
    assert table.pending is None
    assert table.row_buttons[1].disabled  # redrawn
    assert table.feedback.message == "production: 2 → 1"


def test_cancel_changes_nothing(churn):
    table = VersionsTable("churn", session=churn)
    table.request_rollback()
    table.cancel_button.click()
    assert table.pending is None
    assert churn.backend.model("churn").production == 2
    assert table.confirm() is None
    assert table.error.startswith("Nothing to confirm")


def test_rollback_through_the_confirm_step(churn):
    table = VersionsTable("churn", session=churn)
    table.rollback_button.click()
    assert "back from version <b>2</b>" in table.question.value
    table.reason_box.value = "recall dropped"
    alias = table.confirm()
    assert isinstance(alias, Alias)
    assert alias.version == 1
    assert churn.backend.events("churn", limit=1)[0].action == "rollback"


def test_a_rollback_to_a_named_version_from_its_row(churn):
    churn.backend.push(churn.backend.load("churn", 1), "churn")
    churn.backend.deploy("churn", 3)
    table = VersionsTable("churn", session=churn)
    table.rollback_buttons[1].click()
    assert table.pending == ("rollback", 1)
    assert "back from version <b>3</b> to version <b>1</b>" in table.question.value
    alias = table.confirm()
    assert alias.version == 1
    event = churn.backend.events("churn", limit=1)[0]
    assert (event.action, event.from_version, event.to_version) == ("rollback", 3, 1)


def test_direct_methods_and_their_errors(churn):
    table = VersionsTable("churn", session=churn)
    assert table.deploy(1, reason="direct").version == 1
    assert table.deploy(9) is None
    assert table.error == "Model 'churn' has no version 9 (latest is 2)"
    assert table.rollback(to=2).version == 2


def test_an_unknown_model_shows_an_error(session):
    table = VersionsTable("nope", session=session)
    assert table.versions == []
    assert table.error.startswith("No model named 'nope'")
    assert table.rollback_button.disabled
