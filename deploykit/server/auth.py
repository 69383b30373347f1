"""Access tokens with roles: ``viewer`` < ``deployer`` < ``admin``.

A token is 32 random bytes (``dk_`` + URL-safe base64); the database keeps only
its sha256, so a leaked database leaks no token. Looking a token up by its hash
is safe against timing attacks (the hash of a guess reveals nothing about the
stored ones), and the final check uses :func:`hmac.compare_digest` anyway.

The server keeps verified hashes in memory for a few seconds so a token-guarded
predict costs no database round trip; revocation therefore takes effect within
:data:`CACHE_SECONDS` on every replica.

On first start a local ``admin`` token is written to ``<home>/token`` (mode 0600),
where :class:`deploykit.Client` finds it, as Jupyter does with its runtime files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import secrets
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deploykit.errors import (
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from deploykit.records import _as_utc, utcnow
from deploykit.server.tables import tokens

__all__ = [
    "ROLES",
    "TokenInfo",
    "TokenStore",
    "ensure_local_token",
    "hash_token",
    "read_local_token",
]

ROLES: tuple[str, ...] = ("viewer", "deployer", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}
CACHE_SECONDS = 5.0
TOKEN_FILE = "token"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: object) -> str:
    if role not in _RANK:
        raise InvalidInputError(
            f"The role must be one of {', '.join(map(repr, ROLES))}. Got {role!r} instead."
        )
    return str(role)


def allows(role: str, needed: str) -> bool:
    """Whether a token of ``role`` may do what needs ``needed``."""
    return _RANK.get(role, -1) >= _RANK[needed]


@dataclasses.dataclass(frozen=True)
class TokenInfo:
    """A token's record; the secret itself is never stored."""

    id: int
    name: str
    role: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenInfo:
        revoked = data.get("revoked_at")
        return cls(
            id=int(data["id"]),
            name=data["name"],
            role=data["role"],
            created_at=_as_utc(datetime.fromisoformat(data["created_at"])),
            created_by=data["created_by"],
            revoked_at=_as_utc(datetime.fromisoformat(revoked)) if revoked else None,
        )


def _info(row: Any) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        role=row.role,
        created_at=_as_utc(row.created_at),
        created_by=row.created_by,
        revoked_at=_as_utc(row.revoked_at) if row.revoked_at else None,
    )


class TokenStore:
    """Tokens in the registry database, with a short-lived in-memory cache for checks."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._cache: dict[str, tuple[str | None, str, float]] = {}  # hash -> (role, name, expiry)
        self._lock = threading.Lock()

    def create(
        self, role: str, *, name: str = "", created_by: str = "unknown"
    ) -> tuple[str, TokenInfo]:
        """A new token of ``role``: (the secret, shown once; its record)."""
        check_role(role)
        secret = "dk_" + secrets.token_urlsafe(32)
        now = utcnow()
        with self._engine.begin() as conn:
            new_id = conn.execute(
                tokens.insert().values(
                    name=name or f"{role} token",
                    role=role,
                    token_hash=hash_token(secret),
                    created_at=now,
                    created_by=created_by,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        return secret, TokenInfo(int(new_id), name or f"{role} token", role, now, created_by)

    def list(self) -> list[TokenInfo]:
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(tokens).order_by(tokens.c.id)).all()
        return [_info(r) for r in rows]

    def revoke(self, token_id: int) -> TokenInfo:
        with self._engine.begin() as conn:
            conn.execute(
                tokens.update()
                .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).first()
        if row is None:
            raise NotFoundError(
                f"No token with id {token_id}. List tokens with 'deploykit token list' "
                "or GET /v1/tokens."
            )
        with self._lock:
            self._cache.clear()
        return _info(row)

    def is_cached(self, secret: str) -> bool:
        """Whether checking ``secret`` needs no database read (the cache knows it)."""
        cached = self._cache.get(hash_token(secret))
        return cached is not None and cached[2] > time.monotonic()

    def lookup(self, secret: str) -> tuple[str, str] | None:
        """(role, name) of a valid, unrevoked token; None otherwise (cached a few seconds)."""
        digest = hash_token(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[2] > now:
            return None if cached[0] is None else (cached[0], cached[1])
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(tokens.c.token_hash, tokens.c.role, tokens.c.name).where(
                    tokens.c.token_hash == digest, tokens.c.revoked_at.is_(None)
                )
            ).first()
        found = None
        if row is not None and hmac.compare_digest(row.token_hash, digest):
            found = (str(row.role), str(row.name))
        entry = (found[0], found[1], now + CACHE_SECONDS) if found else (None, "", now + 1.0)
        with self._lock:
            if len(self._cache) > 10_000:  # bounded: garbage tokens must not grow memory
                self._cache.clear()
            self._cache[digest] = entry
        return found

    def role_of(self, secret: str) -> str | None:
        found = self.lookup(secret)
        return None if found is None else found[0]

    def authorize(self, secret: str | None, needed: str) -> tuple[str, str]:
        """(role, token name) if the caller may do what needs ``needed``; 401/403 otherwise."""
        if not secret:
            raise AuthenticationError(
                f"This call needs a token with the '{needed}' role. Send it as "
                "'Authorization: Bearer <token>'; an admin creates one with "
                f"`deploykit token create --role {needed}`."
            )
        found = self.lookup(secret)
        if found is None:
            raise AuthenticationError(
                "The token sent is unknown or revoked. Ask an admin for a new one "
                f"(`deploykit token create --role {needed}`)."
            )
        role, name = found
        if not allows(role, needed):
            raise PermissionDeniedError(
                f"This call needs the '{needed}' role; the token sent ({name!r}) has the "
                f"'{role}' role. Ask an admin for a token with the '{needed}' role."
            )
        return role, name


def read_local_token(home: Path) -> str | None:
    """The token in ``<home>/token``, if there is one."""
    try:
        text = (home / TOKEN_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def ensure_local_token(store: TokenStore, home: Path, *, actor: str = "deploykit") -> str:
    """The local admin token in ``<home>/token``, created (mode 0600) if missing or invalid.

    Safe when several workers start at once: a file lock serialises them.
    """
    from filelock import FileLock

    from deploykit._files import FILE_MODE, private_folder

    private_folder(home)
    path = home / TOKEN_FILE
    with FileLock(str(home / ".token.lock"), timeout=30, mode=FILE_MODE):
        existing = read_local_token(home)
        if existing is not None and store.role_of(existing) == "admin":
            return existing
        secret, _ = store.create("admin", name="local admin", created_by=actor)
        tmp = path.with_name(f".token.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secret + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return secret
