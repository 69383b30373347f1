"""Content-addressed artifact store: bytes kept under their sha256, written atomically.

Layout under the root, a local folder or any fsspec URL (``s3://bucket/models``)::

    <root>/sha256/<2 hex>/<62 hex>     one immutable object per digest
    <root>/tmp/<uuid>.part             writes in progress (local stores)

A write streams into a ``.part`` file, hashing the chunks as they pass (in a
worker thread, so hashing overlaps serialization on a second core), fsyncs it
if asked, then renames it onto its final name. A crash leaves a ``.part``
file, never a half object; ``.part`` files older than a day are removed when a
store opens. Remote stores get the completed local file in one upload to the
final key (an S3 PUT or multipart upload appears whole or not at all), and
keep verified copies in ``cache_dir`` for loading.

Identical bytes are stored once. Every :meth:`ArtifactStore.local_path` and
:meth:`ArtifactStore.verify` rehashes the bytes: a pickle is code, and only
bytes matching the digest the registry recorded may reach the unpickler.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO, cast
from urllib.parse import urlparse
from urllib.request import url2pathname

from deploykit._files import FILE_MODE, FOLDER_MODE, private_folder
from deploykit.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ConfigurationError,
    InvalidInputError,
    StorageError,
)

__all__ = ["ArtifactStore", "StoredArtifact", "StoredObject"]

_CHUNK = 1 << 20  # small writes are coalesced to this; reads use it as buffer size
_DIRECT = 64 << 10  # bytes objects this large are written and hashed without a copy
_IN_FLIGHT = 4 << 20  # bytes handed to the hasher thread and not hashed yet, at most
_STALE_AFTER = 24 * 3600.0  # seconds before an abandoned .part file is removed
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclasses.dataclass(frozen=True)
class StoredArtifact:
    """What a write stored: its digest, its size, and whether the digest was already stored.

    ``existed`` tells a caller that nothing new was added (the same model pushed twice).
    """

    digest: str  # "sha256:<hex>"
    size: int
    existed: bool

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StoredArtifact:
        return cls(digest=data["digest"], size=int(data["size"]), existed=bool(data["existed"]))


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """An object found in a store, for ``deploykit gc``: what, how big, last written when.

    ``modified`` is seconds since the epoch; None when the store does not say.
    """

    digest: str
    size: int
    modified: float | None


class ArtifactStore:
    """Bytes by digest in a local folder or an fsspec filesystem.

    ``url`` is a path, a ``file://`` URL or any fsspec URL; ``storage_options``
    go to fsspec. ``fsync`` flushes local objects to disk before they become
    visible. ``cache_dir`` holds verified copies of remote objects (default:
    ``$XDG_CACHE_HOME/deploykit/artifacts``); local stores need none.
    """

    def __init__(
        self,
        url: str | os.PathLike[str],
        *,
        fsync: bool = True,
        cache_dir: Path | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = os.fspath(url)
        self.fsync = fsync
        self._fs: Any = None  # an fsspec filesystem for remote stores, None for local ones
        root = _local_root(self.url)
        if root is None:
            self._fs, self._remote_root = _remote_fs(self.url, storage_options or {})
            root = Path(cache_dir or _default_cache_dir()).expanduser().absolute()
            self.cache_dir: Path | None = root
        else:
            self.cache_dir = None
        # Local stores: the objects themselves. Remote stores: the local cache.
        self._local = root
        self._tmp = root / "tmp"
        try:
            private_folder(root / "sha256")
            private_folder(self._tmp)
            probe = self._tmp / f".probe-{uuid.uuid4().hex}"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            what = "artifact store folder" if self._fs is None else "artifact cache folder"
            setting = "DEPLOYKIT_ARTIFACTS_URL" if self._fs is None else "cache_dir"
            raise StorageError(
                f"The {what} '{root}' is not writable ({exc.strerror or exc}). "
                f"Set {setting} to a folder you can write to, or fix its permissions."
            ) from None
        _remove_stale_parts(self._tmp)

    @property
    def is_local(self) -> bool:
        return self._fs is None

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    # -- writing -------------------------------------------------------------------

    def write(self, fill: Callable[[BinaryIO], None]) -> StoredArtifact:
        """Store the bytes ``fill`` writes into the file object it is given.

        The file object is write-only and not seekable; it supports ``tell()``.
        If ``fill`` raises, nothing is stored and the exception propagates.
        """
        return self._write(fill)

    def put_file(self, path: str | os.PathLike[str]) -> StoredArtifact:
        """Store the bytes of an existing file."""
        try:
            source = open(path, "rb")  # noqa: SIM115  (closed below; open errors reported apart)
        except OSError as exc:
            raise InvalidInputError(
                f"Cannot read the file '{path}' to store it ({exc.strerror or exc}). "
                "Check the path and its permissions."
            ) from None
        with source:
            return self._write(lambda f: shutil.copyfileobj(source, f, _CHUNK))

    def put_stream(
        self, chunks: Iterable[bytes], *, expected_digest: str | None = None
    ) -> StoredArtifact:
        """Store bytes arriving in ``chunks`` (an HTTP upload, say).

        With ``expected_digest``, bytes that hash to anything else are dropped and
        :class:`~deploykit.errors.ArtifactIntegrityError` is raised.
        """
        if expected_digest is not None:
            _check_digest(expected_digest)

        def fill(f: BinaryIO) -> None:
            for chunk in chunks:
                f.write(chunk)

        return self._write(fill, expected_digest)

    def _write(
        self, fill: Callable[[BinaryIO], None], expected: str | None = None
    ) -> StoredArtifact:
        part, stream = self._new_part()
        try:
            fill(cast(BinaryIO, stream))  # write-only, unseekable, binary
            digest, size = stream.finish(fsync=False)
            if expected is not None and digest != expected:
                raise ArtifactIntegrityError(
                    f"The uploaded bytes hash to {digest}, but {expected} was expected: "
                    "the upload was truncated or altered on the way. Nothing was stored; "
                    "send the file again."
                )
            if self._fs is None and self._intact(digest):
                # Same bytes pushed again and the stored object is sound: drop the fresh
                # copy unflushed, so the dedupe path costs a hash, not an fsync. A damaged
                # object falls through and is replaced: pushing again repairs it. Touched,
                # so `deploykit gc` sees it as new until the version referencing it commits.
                with contextlib.suppress(OSError):
                    os.utime(self._local / _key(digest))
                return StoredArtifact(digest, size, existed=True)
            if self.fsync and self.is_local:
                _fsync_file(part)
            return self._commit(part, digest, size)
        finally:
            stream.discard()  # no-op once committed: the .part file was renamed away

    def _new_part(self) -> tuple[Path, _HashingStream]:
        """A fresh ``.part`` file in the temporary folder and the hashing stream writing it."""
        part = self._tmp / f"{uuid.uuid4().hex}.part"
        try:
            raw = _create_part(part)
        except OSError as exc:
            raise _storage_error("create a temporary file in", self._tmp, exc) from None
        return part, _HashingStream(raw, part)

    def _intact(self, digest: str) -> bool:
        path = self._local / _key(digest)
        try:
            return path.is_file() and _sha256_file(path) == digest
        except OSError:
            return False

    def _commit(self, part: Path, digest: str, size: int) -> StoredArtifact:
        key = _key(digest)
        if self._fs is not None:
            return self._commit_remote(part, key, digest, size)
        final = self._local / key
        existed = final.is_file()  # a concurrent push of the same bytes won the race
        try:
            created = not final.parent.is_dir()
            with contextlib.suppress(FileExistsError):
                final.parent.mkdir(mode=FOLDER_MODE)
            os.replace(part, final)
            if self.fsync:  # make the rename itself durable
                _fsync_dir(final.parent)
                if created:
                    _fsync_dir(final.parent.parent)
        except OSError as exc:
            raise _storage_error("store the artifact at", final, exc) from None
        return StoredArtifact(digest, size, existed=existed)

    def _commit_remote(self, part: Path, key: str, digest: str, size: int) -> StoredArtifact:
        remote = self._remote(key)
        try:
            existed = self._fs.exists(remote) and self._fs.size(remote) == size
            if not existed:
                self._fs.makedirs(remote.rsplit("/", 1)[0], exist_ok=True)
                self._fs.put_file(str(part), remote)  # one upload, after the file is complete
        except OSError as exc:
            raise _storage_error("upload the artifact to", remote, exc) from None
        # The bytes are verified: keep them as the cached copy and spare a download.
        cached = self._local / key
        with contextlib.suppress(OSError):
            private_folder(cached.parent)
            os.replace(part, cached)
        return StoredArtifact(digest, size, existed=existed)

    # -- reading -------------------------------------------------------------------

    def exists(self, digest: str) -> bool:
        key = _key(digest)
        if self._fs is None:
            return (self._local / key).is_file()
        return bool(self._fs.exists(self._remote(key)))

    def size(self, digest: str) -> int:
        key = _key(digest)
        try:
            if self._fs is None:
                return (self._local / key).stat().st_size
            return int(self._fs.size(self._remote(key)))
        except FileNotFoundError:
            raise self._missing(digest) from None

    def open(self, digest: str) -> BinaryIO:
        """A raw read stream of the stored bytes, not verified (for sending them on)."""
        key = _key(digest)
        try:
            if self._fs is None:
                return open(self._local / key, "rb")
            return self._fs.open(self._remote(key), "rb")
        except FileNotFoundError:
            raise self._missing(digest) from None

    def verify(self, digest: str) -> None:
        """Rehash the stored bytes; raise ArtifactIntegrityError if they changed."""
        _key(digest)
        if self._fs is None:
            self.local_path(digest)
            return
        with self.open(digest) as stream:
            found = _sha256_stream(stream)
        if found != digest:
            raise _integrity_error(digest, found)

    def local_path(self, digest: str) -> Path:
        """A local file holding the bytes of ``digest``, verified just now.

        Local stores return the object itself; remote stores a copy in
        ``cache_dir``, downloaded under a temporary name, verified, then renamed.
        """
        key = _key(digest)
        path = self._local / key
        if self._fs is None:
            try:
                found = _sha256_file(path)
            except FileNotFoundError:
                raise self._missing(digest) from None
            if found != digest:
                raise _integrity_error(digest, found)
            return path
        if path.is_file():
            if _sha256_file(path) == digest:
                return path
            path.unlink(missing_ok=True)  # a damaged cache copy: the remote one is the truth
        return self._download(digest, key, path)

    def _download(self, digest: str, key: str, path: Path) -> Path:
        part, stream = self._new_part()
        try:
            with self.open(digest) as source:
                shutil.copyfileobj(source, stream, _CHUNK)
            found, _ = stream.finish(fsync=False)  # a lost cache copy is downloaded again
            if found != digest:
                raise _integrity_error(digest, found)
            private_folder(path.parent)
            os.replace(part, path)
        except StorageError:
            raise
        except OSError as exc:
            raise _storage_error("download the artifact to", path, exc) from None
        finally:
            stream.discard()
        return path

    # -- collecting garbage (deploykit gc) -----------------------------------------------

    def objects(self) -> list[StoredObject]:
        """Every object of the store (for a remote store: the remote objects, listed)."""
        if self._fs is None:
            return _local_objects(self._local)
        found = []
        try:
            listing = self._fs.find(f"{self._remote_root}/sha256", detail=True)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise _storage_error("list the objects of", self.url, exc) from None
        for path, info in listing.items():
            digest = _digest_of(path)
            if digest is not None and info.get("type", "file") == "file":
                found.append(StoredObject(digest, int(info.get("size") or 0), _modified(info)))
        return found

    def cached_objects(self) -> list[StoredObject]:
        """The verified local copies a remote store keeps in ``cache_dir`` (none if local)."""
        return [] if self._fs is None else _local_objects(self._local)

    def parts(self) -> list[tuple[Path, int, float]]:
        """(path, size, last written) of every ``.part`` file: writes in progress, or dead."""
        found = []
        for part in self._tmp.glob("*.part"):
            with contextlib.suppress(OSError):
                info = part.stat()
                found.append((part, info.st_size, info.st_mtime))
        return found

    def remove(self, digest: str, *, unless_newer_than: float) -> bool:
        """Delete the object of ``digest`` unless it was written after ``unless_newer_than``.

        The time is read again just before deleting: a push that has just stored (or
        re-stored) the same bytes keeps them. False if nothing was deleted.
        """
        key = _key(digest)
        try:
            if self._fs is None:
                path = self._local / key
                if path.stat().st_mtime > unless_newer_than:
                    return False
                path.unlink()
                return True
            remote = self._remote(key)
            modified = _modified(self._fs.info(remote))
            if modified is None or modified > unless_newer_than:
                return False
            self._fs.rm_file(remote)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _storage_error("delete the artifact", key, exc) from None
        return True

    def remove_cached(self, digest: str) -> bool:
        """Delete the local cached copy of ``digest`` (remote stores); False if none."""
        if self._fs is None:
            return False
        try:
            (self._local / _key(digest)).unlink()
        except FileNotFoundError:
            return False
        return True

    def _remote(self, key: str) -> str:
        return f"{self._remote_root}/{key}"

    def _missing(self, digest: str) -> ArtifactError:
        # No path or URL: this message reaches HTTP callers.
        return ArtifactError(
            f"Artifact {digest} is missing from the artifact store (DEPLOYKIT_ARTIFACTS_URL). "
            "Its bytes were deleted or never uploaded; restore the store from a backup or "
            "push the model again."
        )


class _Hasher:
    """sha256 computed by a worker thread from chunks handed over by the writer.

    hashlib releases the GIL on large buffers, so on a second core hashing
    overlaps serialization instead of following it (sha256 runs at about the
    speed joblib pickles, so doing both in turn would double a push).
    At most ``_IN_FLIGHT`` bytes wait, so a slow hasher stalls the writer
    rather than piling up chunks in memory.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self._chunks: deque[bytes | bytearray | memoryview | None] = deque()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="deploykit-sha256", daemon=True)
        self._thread.start()

    def update(self, chunk: bytes | bytearray | memoryview | None) -> None:
        size = 0 if chunk is None else len(chunk)
        with self._cond:
            while self._pending and self._pending + size > _IN_FLIGHT:
                self._cond.wait()
            self._chunks.append(chunk)
            self._pending += size
            self._cond.notify_all()

    def wait(self) -> None:
        """Return once every chunk handed over so far is hashed."""
        with self._cond:
            while self._pending:
                self._cond.wait()

    def stop(self) -> str:
        """Hash what is left, stop the worker and return ``"sha256:<hex>"``."""
        if self._thread.is_alive():
            self.update(None)
            self._thread.join()
        return f"sha256:{self._sha.hexdigest()}"

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._chunks:
                    self._cond.wait()
                chunk = self._chunks.popleft()
            if chunk is None:
                return
            self._sha.update(chunk)
            with self._cond:
                self._pending -= len(chunk)
                self._cond.notify_all()


class _HashingStream(io.RawIOBase):
    """The write-only, unseekable file object handed to ``fill``.

    Every byte goes to the ``.part`` file and to a :class:`_Hasher`. Immutable
    ``bytes`` of 64 KiB or more (joblib's array chunks: nearly all of a model)
    are passed on as they are; smaller or mutable pieces are copied into 1 MiB
    chunks first. Not seekable on purpose: a hash computed on the fly cannot
    follow a seek back, and writers such as zipfile then stream instead.
    """

    def __init__(self, raw: io.FileIO, path: Path) -> None:
        super().__init__()
        self._raw = raw
        self._path = path
        self._buffer = bytearray()
        self._size = 0
        self._hasher = _Hasher()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._size

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if isinstance(data, bytes) and size >= _DIRECT:
            self._drain()
            self._emit(data)  # immutable: safe to hash after write() returns, no copy
        elif size >= _CHUNK:
            self._drain()
            for start in range(0, size, _CHUNK):
                self._emit(view[start : start + _CHUNK])
            self._hasher.wait()  # the caller may reuse its buffer once write() returns
        else:
            self._buffer += view
            if len(self._buffer) >= _CHUNK:
                self._drain()
        self._size += size
        return size

    def finish(self, *, fsync: bool) -> tuple[str, int]:
        """Flush, optionally fsync, and return ``("sha256:<hex>", size)``."""
        self._drain()
        try:
            if fsync:  # while the last chunks are still being hashed
                os.fsync(self._raw.fileno())
            self._raw.close()
        except OSError as exc:
            raise _storage_error("write the temporary file", self._path, exc) from None
        return self._hasher.stop(), self._size

    def discard(self) -> None:
        """Stop the worker, close and delete the ``.part`` file if still there."""
        self._hasher.stop()
        self._raw.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    def _drain(self) -> None:
        if self._buffer:
            # Hand the bytearray over whole: it is never touched again, so no copy.
            chunk, self._buffer = self._buffer, bytearray()
            self._emit(chunk)

    def _emit(self, chunk: bytes | bytearray | memoryview) -> None:
        self._hasher.update(chunk)
        view = memoryview(chunk)
        try:
            while view:
                view = view[self._raw.write(view) :]
        except OSError as exc:
            raise _storage_error("write the temporary file", self._path, exc) from None


def _create_part(part: Path) -> io.FileIO:
    """A new ``.part`` file, 0600 from the start: it becomes the stored object by rename."""
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), FILE_MODE)
    return io.FileIO(fd, "wb", closefd=True)


def _local_root(url: str) -> Path | None:
    """The folder for a path or ``file://`` URL; None for other URLs."""
    if url.startswith("file://"):
        return Path(url2pathname(urlparse(url).path)).absolute()
    if "://" not in url:
        return Path(url).expanduser().absolute()
    return None


def _remote_fs(url: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:  # fsspec names the missing package (s3fs, gcsfs, ...)
        raise ConfigurationError(
            f"The artifact store URL '{url}' needs an extra package: {exc}. "
            "For S3, install deploykit[s3]."
        ) from None
    except ValueError as exc:
        raise ConfigurationError(
            f"The artifact store URL '{url}' is not usable: {exc}. "
            "Set DEPLOYKIT_ARTIFACTS_URL to a folder or a URL such as s3://bucket/models."
        ) from None
    return fs, root.rstrip("/")


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "deploykit" / "artifacts"


def _check_digest(digest: str) -> str:
    # Digests reach here from HTTP requests: the pattern also bars path tricks.
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInputError(
            "An artifact digest must be 'sha256:' followed by 64 lowercase hex digits. "
            f"Got {digest!r} instead."
        )
    return digest


def _key(digest: str) -> str:
    hexdigest = _check_digest(digest)[len("sha256:") :]
    return f"sha256/{hexdigest[:2]}/{hexdigest[2:]}"


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            sha.update(view[:n])
    return f"sha256:{sha.hexdigest()}"


def _sha256_stream(stream: BinaryIO) -> str:
    sha = hashlib.sha256()
    while chunk := stream.read(4 * _CHUNK):
        sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # flushes the file's dirty pages, whichever descriptor wrote them
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _digest_of(path: str | Path) -> str | None:
    """The digest an object's path stands for (``.../sha256/ab/cdef...``); None otherwise."""
    parts = str(path).replace("\\", "/").rstrip("/").split("/")
    if len(parts) < 3 or parts[-3] != "sha256":
        return None
    digest = f"sha256:{parts[-2]}{parts[-1]}"
    return digest if _DIGEST.fullmatch(digest) else None


def _local_objects(root: Path) -> list[StoredObject]:
    found = []
    for path in (root / "sha256").glob("*/*"):
        digest = _digest_of(path)
        if digest is None:
            continue
        with contextlib.suppress(OSError):
            info = path.stat()
            found.append(StoredObject(digest, info.st_size, info.st_mtime))
    return found


def _modified(info: Mapping[str, Any]) -> float | None:
    """Last-modified time of an fsspec listing entry (s3fs: LastModified), epoch seconds."""
    for key in ("LastModified", "mtime", "last_modified", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        with contextlib.suppress(TypeError, ValueError):
            return float(value)
    return None


def _remove_stale_parts(folder: Path) -> None:
    # A .part file of a live write is touched on every chunk; a day-old one is abandoned.
    cutoff = time.time() - _STALE_AFTER
    for part in folder.glob("*.part"):
        with contextlib.suppress(OSError):
            if part.stat().st_mtime < cutoff:
                part.unlink()


def _integrity_error(expected: str, found: str) -> ArtifactIntegrityError:
    # No path: this message reaches HTTP callers. The digest names the object well enough.
    return ArtifactIntegrityError(
        f"Artifact {expected} failed its integrity check: the stored bytes hash to "
        f"{found}. They were modified or corrupted after the push, so nothing was loaded. "
        "Restore the file from a backup, or push the model again and deploy the new version."
    )


def _storage_error(action: str, path: Path | str, exc: OSError) -> StorageError:
    return StorageError(
        f"Cannot {action} '{path}' ({exc.strerror or exc}). Check that the folder exists, "
        "is writable and has free space, or set DEPLOYKIT_ARTIFACTS_URL to another store."
    )
