import pytest

from deploykit.errors import InvalidInputError
from deploykit.registry.names import check_alias_name, check_model_name, did_you_mean


@pytest.mark.parametrize("name", ["churn", "Churn-RF.v2", "a", "9lives", "x" * 128, "a_b"])
def test_valid_model_names_pass(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize("name", ["", "-churn", ".hidden", "has space", "a/b", "x" * 129, 3, None])
def test_invalid_model_names_name_the_rule(name):
    with pytest.raises(InvalidInputError, match="letters, digits") as info:
        check_model_name(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize("alias", ["3", "007", "latest", "LATEST"])
def test_aliases_that_read_as_version_references_are_refused(alias):
    with pytest.raises(InvalidInputError, match="reserved"):
        check_alias_name(alias)


def test_alias_names_follow_the_model_name_rule():
    assert check_alias_name("staging") == "staging"
    with pytest.raises(InvalidInputError, match="alias name"):
        check_alias_name("pro duction")


def test_did_you_mean_offers_close_names_then_known_names_then_a_hint():
    assert did_you_mean("chrn", ["churn", "fraud"]) == " (did you mean 'churn'?)"
    assert did_you_mean("zzz", ["churn", "fraud"]) == "; known models: 'churn', 'fraud'"
    assert did_you_mean("zzz", []) == "; the registry has no models yet"
