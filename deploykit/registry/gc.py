"""Collecting what no version references: artifact blobs, cached copies, dead ``.part`` files.

A push stores its artifact first and commits the version after (so a crash leaves no
half version); a push killed in between leaves a blob nobody references, and one killed
mid-write a ``.part`` file. :func:`collect_garbage` (``deploykit gc``) removes them.

The race to mind is a push that has stored its blob but not committed its version yet:
that blob is unreferenced *for now*. So nothing younger than ``older_than`` seconds
(default an hour) is touched, and each object's age is read again just before it is
deleted; a push that finds its bytes already stored touches them (local stores), so an
old unreferenced blob that a push is about to use counts as new again. A store belongs
to one registry database: pointed at another database's store, gc would see every blob
as unreferenced, so it refuses when the database references none of the store's blobs.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from deploykit.errors import ConflictError, InvalidInputError, StorageError
from deploykit.registry.tables import versions

if TYPE_CHECKING:
    from deploykit.registry.registry import Registry

__all__ = ["DEFAULT_OLDER_THAN", "GcReport", "Removed", "collect_garbage"]

DEFAULT_OLDER_THAN = 3600.0  # seconds: far longer than any push between store and commit


@dataclasses.dataclass(frozen=True)
class Removed:
    """One thing gc removed (or, in a dry run, would remove)."""

    kind: str  # "blob", "cached copy" (of a remote store's blob) or "part" (a dead write)
    name: str  # the digest, or the .part file's name
    size: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class GcReport:
    """What a gc run removed and kept."""

    dry_run: bool
    older_than: float
    removed: tuple[Removed, ...]
    referenced: int  # blobs kept because a version references them
    recent: int  # unreferenced blobs and .part files kept because they are younger

    @property
    def bytes_freed(self) -> int:
        return sum(r.size for r in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "older_than": self.older_than,
            "removed": [r.to_dict() for r in self.removed],
            "bytes_freed": self.bytes_freed,
            "referenced": self.referenced,
            "recent": self.recent,
        }


def referenced_digests(registry: Registry) -> set[str]:
    with registry.engine.connect() as connection:
        found = {
            str(d) for d in connection.execute(sa.select(versions.c.digest).distinct()).scalars()
        }
        # compiled (ONNX) artifacts derived at push, named in each version's runtime
        for runtime in connection.execute(
            sa.select(versions.c.runtime).where(versions.c.runtime.is_not(None))
        ).scalars():
            digest = runtime.get("digest") if isinstance(runtime, dict) else None
            if digest:
                found.add(str(digest))
        return found


def collect_garbage(
    registry: Registry,
    *,
    older_than: float = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    force: bool = False,
    now: float | None = None,
) -> GcReport:
    """Remove unreferenced blobs and dead ``.part`` files older than ``older_than`` seconds."""
    if isinstance(older_than, bool) or not isinstance(older_than, (int, float)) or older_than < 0:
        raise InvalidInputError(
            f"The 'older_than' parameter of gc must be a number of seconds >= 0. "
            f"Got {older_than!r} instead."
        )
    now = time.time() if now is None else now
    cutoff = now - older_than
    store = registry.artifacts
    stored = store.objects()  # listed before the references are read: see the module doc
    referenced = referenced_digests(registry)
    unreferenced = [o for o in stored if o.digest not in referenced]
    if stored and len(unreferenced) == len(stored) and not force:
        raise ConflictError(
            f"The registry database references none of the {len(stored)} artifact(s) in the "
            "store, so DEPLOYKIT_DATABASE_URL and DEPLOYKIT_ARTIFACTS_URL may not belong "
            "together. Nothing was removed; run gc with --force (force=True) if this is right."
        )
    removed: list[Removed] = []
    recent = 0
    for obj in unreferenced:
        if obj.modified is None or obj.modified > cutoff:
            recent += 1
        elif dry_run or store.remove(obj.digest, unless_newer_than=cutoff):
            removed.append(Removed("blob", obj.digest, obj.size))
        else:
            recent += 1  # written again meanwhile: a push is using it
    for obj in store.cached_objects():
        old = obj.digest not in referenced and (obj.modified or now) <= cutoff
        if old and (dry_run or store.remove_cached(obj.digest)):
            removed.append(Removed("cached copy", obj.digest, obj.size))
    for path, size, modified in store.parts():
        if modified > cutoff:
            recent += 1
            continue
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                continue  # its write finished (renamed) or another gc took it
            except OSError as exc:
                raise StorageError(
                    f"Cannot delete the dead write {path.name} ({exc.strerror or exc}); "
                    "check the artifact store's permissions."
                ) from None
        removed.append(Removed("part", path.name, size))
    return GcReport(
        dry_run=dry_run,
        older_than=float(older_than),
        removed=tuple(removed),
        referenced=len(stored) - len(unreferenced),
        recent=recent,
    )
