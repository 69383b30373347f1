"""Request ids the server signs, so feedback can only label predictions it answered.

The ``request_id`` of a predict answer reads ``<nonce>.<mac>``: 16 random hex
digits, then the first 32 hex digits of HMAC-SHA256(key, "<model>\\n<nonce>").
Feedback names that id; the server recomputes the mac for the model in the URL
and refuses any other id. So a caller can label neither a request id it chose
itself (``X-Request-ID`` is echoed for tracing, never signed), nor an id it made
up, nor one another model answered: labels land only on predictions this
deployment made for this model.

The key is 32 random bytes kept in the registry database (table
``server_secrets``, migration 0005), made by whichever replica starts first: every
replica on every host that shares the registry signs and checks alike, and a
restart keeps old ids valid. Whoever can read the registry database can forge
ids, but could write feedback rows directly anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import weakref
from typing import Any

import sqlalchemy as sa

from deploykit.errors import StorageError
from deploykit.records import utcnow
from deploykit.server.tables import server_secrets

__all__ = ["RequestIds", "looks_signed"]

SECRET_NAME = "request_ids"
_NONCE_HEX = 16
_MAC_HEX = 32  # 128 bits
_SHAPE = re.compile(rf"[0-9a-f]{{{_NONCE_HEX}}}\.[0-9a-f]{{{_MAC_HEX}}}")


def looks_signed(request_id: str) -> bool:
    """Whether ``request_id`` has the shape of a signed id (whatever model or key signed it)."""
    return _SHAPE.fullmatch(request_id) is not None


class RequestIds:
    """Issues and checks signed request ids with the key shared through ``engine``."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._key: bytes | None = None
        self._pads: tuple[Any, Any] | None = None  # HMAC state for _key, made once
        self._lock = threading.Lock()
        # urandom read ahead (one syscall per 512 ids, not one per id), taken under a lock:
        # no two ids, whatever thread issues them, share a nonce
        self._random = b""
        self._at = 0
        self._random_lock = threading.Lock()
        _POOLED.add(self)

    def load(self) -> None:
        """Read the shared key (making it if no replica has yet); a database round trip."""
        with self._lock:
            if self._key is None:
                self._key = _shared_key(self._engine)

    def issue(self, model: str) -> str:
        """A fresh id for one prediction of ``model``."""
        size = _NONCE_HEX // 2
        with self._random_lock:
            at = self._at
            if at + size > len(self._random):
                self._random, at = os.urandom(size * 512), 0
            self._at = at + size
            nonce = self._random[at : at + size].hex()
        return f"{nonce}.{self._mac(model, nonce)}"

    def verify(self, model: str, request_id: str) -> bool:
        """Whether ``request_id`` was issued by this deployment for ``model``."""
        if not looks_signed(request_id):
            return False
        nonce, _, mac = request_id.partition(".")
        return hmac.compare_digest(mac, self._mac(model, nonce))

    def _mac(self, model: str, nonce: str) -> str:
        if self._key is None:
            self.load()
        assert self._key is not None
        pads = self._pads
        if pads is None:
            pads = self._pads = _pads(self._key)
        inner, outer = pads[0].copy(), pads[1].copy()
        inner.update(f"{model}\n{nonce}".encode())
        outer.update(inner.digest())
        return outer.hexdigest()[:_MAC_HEX]


def _pads(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hashes with the padded key already fed (RFC 2104): a
    mac is then two copies and two updates, ~3 µs, where hmac.new takes ~5 µs."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


_BLOCK = 64  # SHA-256's block size

_POOLED: weakref.WeakSet[RequestIds] = weakref.WeakSet()


def _forget_random() -> None:
    for ids in list(_POOLED):  # a forked child must not reuse its parent's nonces
        ids._random, ids._at = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_random)


def _shared_key(engine: sa.Engine) -> bytes:
    """The key in ``server_secrets``; the first replica to start inserts it, the rest read it."""
    column = server_secrets.c
    query = sa.select(column.value).where(column.name == SECRET_NAME)
    for _ in range(3):
        with engine.connect() as connection:
            value = connection.execute(query).scalar()
        if value is not None:
            return bytes.fromhex(value)
        try:
            with engine.begin() as connection:
                connection.execute(
                    server_secrets.insert().values(
                        name=SECRET_NAME, value=secrets.token_hex(32), created_at=utcnow()
                    )
                )
        except sa.exc.IntegrityError:  # another replica made it first: read theirs
            pass
    raise StorageError("The server could not read or store its request-id key in the registry.")
