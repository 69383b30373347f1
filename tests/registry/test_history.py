"""Deploy and rollback: aliases as a stack of moves (deploy pushes, rollback pops)."""

import pytest

from deploykit.errors import (
    AliasNotFoundError,
    ConflictError,
    InvalidInputError,
    NothingToRollBackError,
    VersionNotFoundError,
)


@pytest.fixture
def churn(reg, model):
    """A model 'churn' with five versions and nothing deployed."""
    for _ in range(5):
        reg.push(model, "churn")
    return reg


def production(reg):
    return reg.model("churn").production


def test_deploy_moves_production_and_reports_the_alias(churn):
    alias = churn.deploy("churn", 2)
    assert (alias.model, alias.name, alias.version, alias.updated_by) == (
        "churn",
        "production",
        2,
        "tester",
    )
    assert production(churn) == 2
    assert churn.version("churn").version == 2
    assert churn.version("churn", 2).aliases == ("production",)


def test_rollback_returns_to_the_version_production_held_before(churn):
    churn.deploy("churn", 1)
    churn.deploy("churn", 3)
    alias = churn.rollback("churn", reason="recall dropped")
    assert alias.version == 1
    assert production(churn) == 1


def test_repeated_rollbacks_step_further_back_never_forth(churn):
    for v in (1, 2, 3, 4):
        churn.deploy("churn", v)
    assert [churn.rollback("churn").version for _ in range(3)] == [3, 2, 1]
    with pytest.raises(NothingToRollBackError, match="back on version 1"):
        churn.rollback("churn")


def test_deploy_after_rollback_pushes_again(churn):
    for v in (1, 2, 3):
        churn.deploy("churn", v)
    churn.rollback("churn")  # 3 -> 2
    churn.deploy("churn", 5)  # stack: 1, 2, 5
    assert churn.rollback("churn").version == 2
    assert churn.rollback("churn").version == 1


def test_nothing_to_roll_back_after_the_first_deploy(churn):
    churn.deploy("churn", 1)
    with pytest.raises(NothingToRollBackError) as info:
        churn.rollback("churn")
    assert str(info.value) == (
        "Model 'churn' has no earlier production version to roll back to; "
        "it has been on version 1 since its first deploy."
    )
    assert production(churn) == 1


def test_rollback_of_an_alias_that_points_nowhere(churn):
    with pytest.raises(AliasNotFoundError, match=r"reg.deploy\('churn', VERSION\)"):
        churn.rollback("churn")
    with pytest.raises(AliasNotFoundError, match="alias='staging'"):
        churn.rollback("churn", alias="staging")


def test_rollback_to_a_version_on_the_stack_pops_down_to_it(churn):
    for v in (1, 2, 3, 4):
        churn.deploy("churn", v)
    assert churn.rollback("churn", to=2).version == 2
    assert churn.rollback("churn").version == 1  # 3 and 4 were popped with it


def test_rollback_to_a_version_never_deployed_pushes_it(churn):
    churn.deploy("churn", 4)
    assert churn.rollback("churn", to=1).version == 1
    assert churn.rollback("churn").version == 4


def test_rollback_to_checks_the_version(churn):
    churn.deploy("churn", 2)
    with pytest.raises(VersionNotFoundError, match=r"no version 9 \(latest is 5\)"):
        churn.rollback("churn", to=9)
    with pytest.raises(ConflictError, match="already on version 2"):
        churn.rollback("churn", to=2)
    with pytest.raises(InvalidInputError, match="'to' parameter"):
        churn.rollback("churn", to="1")


def test_rollback_if_current_rolls_back_once_when_two_monitors_fire(churn):
    for v in (1, 2, 3):
        churn.deploy("churn", v)
    churn.rollback("churn", if_current=3, action="auto-rollback")
    with pytest.raises(ConflictError, match="on version 2, not 3"):
        churn.rollback("churn", if_current=3, action="auto-rollback")
    assert production(churn) == 2


def test_redeploying_the_current_version_changes_nothing(churn):
    churn.deploy("churn", 1)
    churn.deploy("churn", 2)
    events_before = churn.last_event_id()
    assert churn.deploy("churn", 2).version == 2
    assert churn.last_event_id() == events_before
    assert churn.rollback("churn").version == 1


def test_aliases_are_independent(churn):
    churn.deploy("churn", 1)
    churn.deploy("churn", 3, alias="staging")
    churn.deploy("churn", "staging")  # promote what staging holds
    assert {a.name: a.version for a in churn.aliases("churn")} == {
        "production": 3,
        "staging": 3,
    }
    assert churn.version("churn", 3).aliases == ("production", "staging")
    assert churn.rollback("churn").version == 1
    assert churn.model("churn").aliases == {"production": 1, "staging": 3}


def test_deploy_accepts_latest_and_numeric_strings(churn):
    assert churn.deploy("churn", "latest").version == 5
    assert churn.deploy("churn", "2").version == 2


def test_deleted_alias_points_nowhere_and_starts_a_fresh_history(churn):
    churn.deploy("churn", 1, alias="canary")
    churn.deploy("churn", 2, alias="canary")
    churn.delete_alias("churn", "canary", reason="experiment over")
    with pytest.raises(AliasNotFoundError):
        churn.version("churn", "canary")
    with pytest.raises(AliasNotFoundError):
        churn.delete_alias("churn", "canary")
    churn.deploy("churn", 4, alias="canary")
    with pytest.raises(NothingToRollBackError):
        churn.rollback("churn", alias="canary")


def test_invalid_alias_and_action_are_refused(churn):
    with pytest.raises(InvalidInputError, match="reserved"):
        churn.deploy("churn", 1, alias="latest")
    with pytest.raises(InvalidInputError, match="'rollback', 'auto-rollback'"):
        churn.rollback("churn", action="undo")
