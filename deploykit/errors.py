"""The exceptions deploykit raises, one tree rooted at :class:`DeployKitError`.

Every class also inherits the builtin a Python user would reach for, so
``except LookupError`` or ``except ValueError`` keep working::

    DeployKitError
    ├── ConfigurationError(ValueError)        bad DEPLOYKIT_* setting, unwritable home   500
    ├── NotFoundError(LookupError)                                                     404
    │   ├── ModelNotFoundError                no such model
    │   ├── VersionNotFoundError              no such version of a model
    │   ├── AliasNotFoundError                alias points nowhere
    │   └── ExperimentNotFoundError           no shadow or canary runs for the model
    ├── InvalidInputError(ValueError)                                                  422
    │   ├── SignatureError                    data does not match the model's input schema
    │   ├── NotAnEstimatorError(TypeError)    pushed object cannot fit/predict
    │   ├── EvaluationError                   evaluation impossible on the given data
    │   └── GateError                         gate expression cannot be parsed or checked
    ├── ConflictError                                                                  409
    │   └── NothingToRollBackError            alias has no earlier version
    ├── AuthenticationError                   no or unknown token                      401
    ├── PermissionDeniedError(PermissionError) token lacks the role                    403
    ├── ExperimentNotFollowedError(TimeoutError) a server's workers do not all run it   500
    ├── ArtifactError                                                                  500
    │   ├── ArtifactIntegrityError            stored bytes do not match their digest
    │   └── UntrustedArtifactError            skops file holds types not trusted here
    │       └── FormatNotAllowedError         the server does not load this format      409
    └── StorageError(OSError)                 the metadata or artifact store failed    503
        └── ServerUnreachableError(ConnectionError) no answer from the deploykit server   503

Context travels on the exception as declared attributes (``None`` when unknown):
``status`` overrides the class's HTTP status for one error (a 405, say), and an error
the HTTP client raises carries the server's ``status_code`` and ``request_id``.

Messages name the thing, what was expected, what came, and the fix. The HTTP
server maps classes to statuses with :func:`http_status`, and the HTTP client
raises the class named in the error body, so callers see the same exception
whichever implementation they talk to.
"""

from __future__ import annotations

__all__ = [
    "AliasNotFoundError",
    "ArtifactError",
    "ArtifactIntegrityError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "DeployKitError",
    "DeployKitWarning",
    "EnvironmentMismatchWarning",
    "EvaluationError",
    "ExperimentNotFollowedError",
    "ExperimentNotFoundError",
    "FormatNotAllowedError",
    "GateError",
    "InvalidInputError",
    "ModelNotFoundError",
    "NotAnEstimatorError",
    "NotFoundError",
    "NothingToRollBackError",
    "PermissionDeniedError",
    "PickleWarning",
    "ServerUnreachableError",
    "SignatureError",
    "StorageError",
    "UntrustedArtifactError",
    "VersionNotFoundError",
    "error_class",
    "http_status",
]


class DeployKitError(Exception):
    """Base of every error deploykit raises on purpose."""

    #: The HTTP status to answer with when it is not the class's (see :func:`http_status`).
    status: int | None = None
    #: Set by the HTTP client: the status the server answered with, and the request id
    #: it gave (quote it when reporting a 500).
    status_code: int | None = None
    request_id: str | None = None


class ConfigurationError(DeployKitError, ValueError):
    """A setting is missing, malformed, or points somewhere unusable."""


class NotFoundError(DeployKitError, LookupError):
    """A named model, version or alias does not exist."""


class ModelNotFoundError(NotFoundError):
    pass


class VersionNotFoundError(NotFoundError):
    pass


class AliasNotFoundError(NotFoundError):
    pass


class ExperimentNotFoundError(NotFoundError):
    pass


class ExperimentNotFollowedError(DeployKitError, TimeoutError):
    """Not every worker of the server applies an experiment (yet): a client waited for
    them all to report it, and one could not load the candidate or the time ran out."""


class InvalidInputError(DeployKitError, ValueError):
    """The caller passed something deploykit cannot use."""


class SignatureError(InvalidInputError):
    """Data does not match a model's input signature.

    ``problems`` lists every mismatch found, one sentence each, so a caller can
    show all of them rather than only the first.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[str] = problems if problems is not None else [message]


class NotAnEstimatorError(InvalidInputError, TypeError):
    pass


class EvaluationError(InvalidInputError):
    pass


class GateError(InvalidInputError):
    pass


class ConflictError(DeployKitError):
    """The request is well formed but clashes with the registry's state."""


class NothingToRollBackError(ConflictError):
    pass


class AuthenticationError(DeployKitError):
    pass


class PermissionDeniedError(DeployKitError, PermissionError):
    pass


class ArtifactError(DeployKitError):
    pass


class ArtifactIntegrityError(ArtifactError):
    pass


class UntrustedArtifactError(ArtifactError):
    pass


class UnreadableArtifactError(ArtifactError):
    """Bytes that are not a model file of their declared format (damaged, truncated, another
    format): the pusher's mistake, so a 422, and never advice about missing libraries."""


class FormatNotAllowedError(UntrustedArtifactError):
    """A server asked to load a version whose format its settings refuse (a 409, not a 500:
    the artifact is sound, this server's policy says no)."""


class StorageError(DeployKitError, OSError):
    pass


class ServerUnreachableError(StorageError, ConnectionError):
    """The deploykit server did not answer (down, wrong URL, network): the service is
    unavailable, as a 503 says. A :class:`StorageError` too, so ``except StorageError``
    written before this class existed still catches it."""


class DeployKitWarning(UserWarning):
    """Base of deploykit's warnings."""


class EnvironmentMismatchWarning(DeployKitWarning):
    """A model is loaded under library versions other than those it was pushed with."""


class PickleWarning(DeployKitWarning):
    """A model is pushed as a pickle: whoever loads it runs the code it holds (once a session)."""


# Most specific first: http_status walks the MRO, so a subclass inherits its parent's status.
_HTTP_STATUS: dict[type[DeployKitError], int] = {
    FormatNotAllowedError: 409,
    UnreadableArtifactError: 422,
    NotFoundError: 404,
    InvalidInputError: 422,
    ConflictError: 409,
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    ArtifactError: 500,
    StorageError: 503,
    ConfigurationError: 500,
    DeployKitError: 500,
}


def http_status(exc: BaseException) -> int:
    """The HTTP status the server answers with for ``exc``."""
    for cls in type(exc).__mro__:
        if cls in _HTTP_STATUS:
            return _HTTP_STATUS[cls]
    return 500


def error_class(name: str) -> type[DeployKitError]:
    """The exception class called ``name``; :class:`DeployKitError` for unknown names.

    Used by the HTTP client to raise the same class the server raised.
    """
    cls = globals().get(name)
    if isinstance(cls, type) and issubclass(cls, DeployKitError):
        return cls
    return DeployKitError
