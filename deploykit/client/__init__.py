"""The HTTP client: ``deploykit.Client(url, token=...)``.

It offers the operations of :class:`deploykit.Registry` over HTTP (push with a
streamed upload, versions, deploy, rollback, events, load) plus ``predict``,
``metrics`` and ``feedback``, raising the same exception classes.
"""

from deploykit.client._client import Client
from deploykit.client.results import Prediction

__all__ = ["Client", "Prediction"]
