import pytest

import deploykit
from deploykit import errors


def test_every_error_is_a_deploykit_error_and_a_builtin_where_documented():
    assert issubclass(errors.ModelNotFoundError, LookupError)
    assert issubclass(errors.SignatureError, ValueError)
    assert issubclass(errors.NotAnEstimatorError, TypeError)
    assert issubclass(errors.PermissionDeniedError, PermissionError)
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, errors.DeployKitError), name


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (errors.ModelNotFoundError("m"), 404),
        (errors.VersionNotFoundError("v"), 404),
        (errors.SignatureError("bad"), 422),
        (errors.NothingToRollBackError("x"), 409),
        (errors.AuthenticationError("x"), 401),
        (errors.PermissionDeniedError("x"), 403),
        (errors.ArtifactIntegrityError("x"), 500),
        (errors.StorageError("x"), 503),
        (ValueError("not ours"), 500),
    ],
)
def test_http_status_follows_the_class_tree(exc, status):
    assert errors.http_status(exc) == status


def test_error_class_round_trips_names_for_the_http_client():
    assert errors.error_class("VersionNotFoundError") is errors.VersionNotFoundError
    assert errors.error_class("SystemExit") is errors.DeployKitError
    assert errors.error_class("nonsense") is errors.DeployKitError


def test_signature_error_keeps_every_problem():
    exc = errors.SignatureError("2 problems", problems=["missing columns: 'a'", "x"])
    assert exc.problems == ["missing columns: 'a'", "x"]
    assert errors.SignatureError("one").problems == ["one"]


def test_public_names_resolve():
    for name in deploykit.__all__:
        assert getattr(deploykit, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        deploykit.nope  # noqa: B018


def test_an_unreachable_server_is_its_own_error_that_old_handlers_still_catch():
    from deploykit.server.process import free_port

    nowhere = f"http://127.0.0.1:{free_port()}"
    with (
        deploykit.Client(nowhere, token="x", timeout=2) as down,
        pytest.raises(errors.ServerUnreachableError, match="deploykit serve") as caught,
    ):
        down.models()
    assert isinstance(caught.value, errors.StorageError)  # `except StorageError` still works
    assert isinstance(caught.value, ConnectionError)
    assert errors.http_status(caught.value) == 503
    assert caught.value.status_code is None  # no server answered, so no status and no id
    assert caught.value.request_id is None


def test_context_fields_are_declared_and_empty_on_a_fresh_error():
    exc = errors.InvalidInputError("x")
    assert (exc.status, exc.status_code, exc.request_id) == (None, None, None)
    assert errors.http_status(exc) == 422
