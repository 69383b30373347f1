from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

from deploykit import serialization
from deploykit.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    InvalidInputError,
    StorageError,
)
from deploykit.registry.artifacts import ArtifactStore, StoredArtifact

MiB = 1 << 20


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def objects(root: Path) -> list[Path]:
    return sorted(p for p in (root / "sha256").rglob("*") if p.is_file())


def parts(root: Path) -> list[Path]:
    return sorted((root / "tmp").glob("*.part"))


def flip_a_byte(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def store(root: Path) -> ArtifactStore:
    return ArtifactStore(root)


def test_bytes_are_stored_under_their_digest(store: ArtifactStore, root: Path) -> None:
    data = b"model bytes" * 1000
    stored = store.write(lambda f: f.write(data))
    digest = sha256(data)
    assert stored == StoredArtifact(digest=digest, size=len(data), existed=False)
    hexdigest = digest.removeprefix("sha256:")
    path = root / "sha256" / hexdigest[:2] / hexdigest[2:]
    assert objects(root) == [path]
    assert path.read_bytes() == data
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    assert store.local_path(digest) == path
    with store.open(digest) as f:
        assert f.read() == data
    assert parts(root) == []


def test_identical_bytes_are_stored_once(store: ArtifactStore, root: Path) -> None:
    first = store.write(lambda f: f.write(b"same"))
    second = store.put_stream([b"sa", b"me"])
    assert (first.existed, second.existed) == (False, True)
    assert first.digest == second.digest
    assert len(objects(root)) == 1
    assert parts(root) == []


def test_a_tampered_object_is_refused(store: ArtifactStore) -> None:
    data = os.urandom(3 * MiB)
    digest = store.write(lambda f: f.write(data)).digest
    path = store.local_path(digest)
    flip_a_byte(path, offset=2 * MiB)

    with pytest.raises(ArtifactIntegrityError) as excinfo:
        store.local_path(digest)
    message = str(excinfo.value)
    found = sha256(path.read_bytes())
    assert f"Artifact {digest} failed its integrity check: the stored bytes hash" in message
    assert str(path) not in message  # HTTP callers see this message: no paths
    assert f"hash to {found}" in message
    assert "push the model again" in message
    with pytest.raises(ArtifactIntegrityError):
        store.verify(digest)

    # Pushing the same bytes again repairs the object instead of trusting the damaged one.
    store.write(lambda f: f.write(data))
    store.verify(digest)


def test_put_stream_with_a_wrong_digest_stores_nothing(store: ArtifactStore, root: Path) -> None:
    expected = sha256(b"what the client meant to send")
    with pytest.raises(ArtifactIntegrityError, match=f"but {expected} was expected"):
        store.put_stream([b"what the client ", b"sent"], expected_digest=expected)
    assert objects(root) == []
    assert parts(root) == []

    right = store.put_stream([b"ok"], expected_digest=sha256(b"ok"))
    assert right.digest == sha256(b"ok")


def test_a_failing_fill_stores_nothing(store: ArtifactStore, root: Path) -> None:
    def fill(f: object) -> None:
        f.write(b"x" * (2 * MiB))  # type: ignore[attr-defined]
        raise RuntimeError("serialization failed")

    with pytest.raises(RuntimeError, match="serialization failed"):
        store.write(fill)
    assert objects(root) == []
    assert parts(root) == []


def test_put_file_stores_a_copy(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model.joblib"
    source.write_bytes(b"\x80\x04 pickled")
    stored = store.put_file(source)
    assert stored.digest == sha256(source.read_bytes())
    with pytest.raises(InvalidInputError, match=r"Cannot read the file '.*missing\.joblib'"):
        store.put_file(tmp_path / "missing.joblib")


@pytest.mark.parametrize("bad", ["sha256:../../etc/passwd", "md5:abc", "sha256:" + "A" * 64])
def test_malformed_digests_are_refused(store: ArtifactStore, bad: str) -> None:
    with pytest.raises(InvalidInputError, match="must be 'sha256:' followed by 64 lowercase hex"):
        store.local_path(bad)


def test_a_missing_object_is_named(store: ArtifactStore) -> None:
    digest = sha256(b"never stored")
    assert not store.exists(digest)
    for call in (store.local_path, store.size, store.open):
        with pytest.raises(ArtifactError, match=f"Artifact {digest} is missing"):
            call(digest)


def test_an_unwritable_root_fails_at_once(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StorageError) as excinfo:
        ArtifactStore(blocker / "artifacts")
    assert f"The artifact store folder '{blocker / 'artifacts'}' is not writable" in str(
        excinfo.value
    )
    assert "DEPLOYKIT_ARTIFACTS_URL" in str(excinfo.value)


def test_file_urls_are_local_folders(root: Path) -> None:
    store = ArtifactStore(root.as_uri())
    digest = store.write(lambda f: f.write(b"abc")).digest
    assert store.is_local
    assert store.local_path(digest).is_relative_to(root)


@pytest.mark.parametrize("format", serialization.FORMATS)
def test_models_round_trip_through_the_store(store: ArtifactStore, format: str) -> None:
    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    stored = store.write(lambda f: serialization.dump(model, f, format=format))
    path = store.local_path(stored.digest)
    loaded = serialization.load(path, format=format, trusted=["sklearn.tree._tree.Tree"])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_killed_writer_leaves_no_object(root: Path) -> None:
    ArtifactStore(root)
    script = textwrap.dedent(
        """
        import sys, time
        from deploykit.registry.artifacts import ArtifactStore

        def fill(f):
            f.write(b"x" * (3 << 20))
            print("half written", flush=True)
            time.sleep(60)

        ArtifactStore(sys.argv[1]).write(fill)
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == "half written\n"
        [part] = parts(root)
        assert part.stat().st_size >= 3 << 20  # the bytes reached the file
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
        writer.stdout.close()  # type: ignore[union-attr]

    assert objects(root) == []
    assert parts(root) == [part]  # the debris, invisible to readers
    store = ArtifactStore(root)
    assert store.write(lambda f: f.write(b"next push")).existed is False
    assert len(objects(root)) == 1


def test_stale_parts_are_removed_when_a_store_opens(store: ArtifactStore, root: Path) -> None:
    stale, fresh = root / "tmp" / "old.part", root / "tmp" / "live.part"
    stale.write_bytes(b"abandoned")
    fresh.write_bytes(b"being written")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(stale, (two_days_ago, two_days_ago))
    ArtifactStore(root)
    assert parts(root) == [fresh]


def test_remote_stores_round_trip_through_fsspec(tmp_path: Path) -> None:
    url = f"memory://deploykit-{uuid.uuid4().hex}/artifacts"
    cache = tmp_path / "cache"
    store = ArtifactStore(url, cache_dir=cache)
    assert not store.is_local
    data = os.urandom(2 * MiB + 123)
    stored = store.write(lambda f: f.write(data))
    digest = stored.digest
    assert stored == StoredArtifact(sha256(data), len(data), existed=False)
    assert store.put_stream([data]).existed is True
    assert store.exists(digest)
    assert store.size(digest) == len(data)
    with store.open(digest) as f:
        assert f.read() == data
    store.verify(digest)

    # Another machine: empty cache, so local_path downloads, verifies and renames.
    other = ArtifactStore(url, cache_dir=tmp_path / "other-cache")
    path = other.local_path(digest)
    assert path.is_relative_to(tmp_path / "other-cache")
    assert path.read_bytes() == data

    fs = fsspec.filesystem("memory")
    hexdigest = digest.removeprefix("sha256:")
    remote = f"{url.removeprefix('memory://')}/sha256/{hexdigest[:2]}/{hexdigest[2:]}"
    fs.pipe_file(remote, b"tampered" + data[8:])
    third = ArtifactStore(url, cache_dir=tmp_path / "third-cache")
    with pytest.raises(ArtifactIntegrityError, match=f"Artifact {digest} failed"):
        third.local_path(digest)
    with pytest.raises(ArtifactIntegrityError):
        store.verify(digest)
    assert objects(tmp_path / "third-cache") == []
    assert parts(tmp_path / "third-cache") == []


def test_large_artifacts_stream_in_small_chunks(store: ArtifactStore, tmp_path: Path) -> None:
    size = 50 * MiB
    source = tmp_path / "big.bin"
    sha = hashlib.sha256()
    with source.open("wb") as f:
        for _ in range(size // MiB):
            chunk = os.urandom(MiB)
            sha.update(chunk)
            f.write(chunk)

    tracemalloc.start()
    try:
        stored = store.put_file(source)
        store.local_path(stored.digest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.digest == "sha256:" + sha.hexdigest()
    assert stored.size == size
    assert peak < 12 * MiB, f"peak {peak / MiB:.1f} MiB while storing {size / MiB:.0f} MiB"
