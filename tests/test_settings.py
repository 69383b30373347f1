from pathlib import Path

import pytest

from deploykit.errors import ConfigurationError
from deploykit.settings import Settings


def test_defaults_live_under_home_folder(tmp_path):
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path / "dk")})
    assert settings.home == tmp_path / "dk"
    assert settings.database_url == f"sqlite:///{tmp_path / 'dk' / 'registry.db'}"
    assert settings.artifacts_url == str(tmp_path / "dk" / "artifacts")
    assert settings.server_url is None
    assert settings.fsync is True


def test_default_home_is_dot_deploykit_in_user_home():
    settings = Settings.from_env({})
    assert settings.home == Path("~/.deploykit").expanduser()


def test_every_documented_variable_is_read():
    settings = Settings.from_env(
        {
            "DEPLOYKIT_HOME": "/srv/dk",
            "DEPLOYKIT_DATABASE_URL": "postgresql+psycopg://u@db/dk",
            "DEPLOYKIT_ARTIFACTS_URL": "s3://bucket/models",
            "DEPLOYKIT_SERVER_URL": "http://127.0.0.1:8765",
            "DEPLOYKIT_TOKEN": "secret",
            "DEPLOYKIT_ACTOR": "ana",
            "DEPLOYKIT_SKOPS_TRUSTED": "mypkg.A, mypkg.B",
            "DEPLOYKIT_FSYNC": "off",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@db/dk"
    assert settings.artifacts_url == "s3://bucket/models"
    assert settings.server_url == "http://127.0.0.1:8765"
    assert settings.token == "secret"
    assert settings.actor == "ana"
    assert settings.skops_trusted == ("mypkg.A", "mypkg.B")
    assert settings.fsync is False


def test_blank_values_fall_back_to_defaults(tmp_path):
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path), "DEPLOYKIT_SERVER_URL": "  "})
    assert settings.server_url is None


def test_malformed_boolean_names_the_variable():
    with pytest.raises(ConfigurationError, match=r"DEPLOYKIT_FSYNC .* Got 'maybe' instead"):
        Settings.from_env({"DEPLOYKIT_FSYNC": "maybe"})


def test_replace_rejects_unknown_fields(tmp_path):
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(tmp_path)})
    assert settings.replace(actor="bo").actor == "bo"
    with pytest.raises(ConfigurationError, match=r"Unknown setting.*'colour'"):
        settings.replace(colour="red")


def test_home_under_a_file_is_a_clear_error(tmp_path):
    # works as root too: a regular file cannot hold a folder
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = Settings.from_env({"DEPLOYKIT_HOME": str(blocker / "home")})
    with pytest.raises(ConfigurationError, match=r"home folder .* is not writable"):
        settings.ensure_home()


def test_s3_endpoint_reaches_the_storage_options_of_s3_stores_only(tmp_path):
    settings = Settings.from_env(
        {
            "DEPLOYKIT_HOME": str(tmp_path),
            "DEPLOYKIT_ARTIFACTS_URL": "s3://models/team",
            "DEPLOYKIT_S3_ENDPOINT_URL": "http://127.0.0.1:7480",
        }
    )
    assert settings.s3_endpoint_url == "http://127.0.0.1:7480"
    # Listings are never cached: other processes add objects all the time.
    assert settings.storage_options() == {
        "endpoint_url": "http://127.0.0.1:7480",
        "use_listings_cache": False,
    }
    assert settings.storage_options("s3://other/bucket")["endpoint_url"] == "http://127.0.0.1:7480"
    assert settings.storage_options(str(tmp_path / "artifacts")) == {}
    assert settings.storage_options("gs://bucket/x") == {}
    # Without an endpoint, AWS itself; keys always come from the AWS chain, not from us.
    plain = settings.replace(s3_endpoint_url=None)
    assert plain.storage_options() == {"use_listings_cache": False}
