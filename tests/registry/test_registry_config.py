"""Opening a registry: where it keeps things, and clear errors when it cannot."""

import pytest

from deploykit.errors import ConfigurationError, StorageError
from deploykit.registry import Registry
from deploykit.settings import Settings


def test_default_registry_lives_in_the_home_folder(reg, deploykit_home):
    assert reg.settings.home == deploykit_home
    assert (deploykit_home / "registry.db").is_file()
    assert reg.settings.actor == "tester"


def test_home_and_single_settings_can_be_overridden(tmp_path, model):
    with Registry(home=tmp_path / "elsewhere", actor="ci") as reg:
        v = reg.push(model, "churn")
    assert (tmp_path / "elsewhere" / "registry.db").is_file()
    assert (tmp_path / "elsewhere" / "artifacts").is_dir()
    assert v.author == "ci"
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path / "s")})
    with Registry(settings, database_url=f"sqlite:///{tmp_path / 'db' / 'x.db'}") as reg:
        reg.push(model, "churn")
    assert (tmp_path / "db" / "x.db").is_file()


def test_an_unwritable_home_folder_is_a_configuration_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="DEPLOYKIT_HOME"):
        Registry(home=blocker / "home")


def test_an_unreachable_database_is_named_with_its_password_masked(tmp_path):
    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/deploykit"
    with pytest.raises(StorageError) as info:
        Registry(database_url=url, artifacts_url=str(tmp_path / "a"))
    message = str(info.value)
    assert "bob:***@127.0.0.1:1/deploykit" in message
    assert "s3cret" not in message
    assert "DEPLOYKIT_DATABASE_URL" in message


def test_a_malformed_database_url_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError, match="not a valid SQLAlchemy URL"):
        Registry(database_url="nonsense:/x:s3cret@", artifacts_url=str(tmp_path / "a"))


def test_a_database_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ConfigurationError, match="Cannot create the folder"):
        Registry(database_url=f"sqlite:///{blocker}/sub/r.db")


def test_an_in_memory_database_works_for_throwaway_registries(tmp_path, model):
    with Registry(database_url="sqlite://", artifacts_url=str(tmp_path / "a")) as reg:
        reg.push(model, "churn", deploy=True)
        assert reg.version("churn").version == 1
