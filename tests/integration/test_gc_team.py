"""``deploykit gc`` on PostgreSQL + S3 (Ceph RGW): an orphan blob in the bucket goes, every
referenced one stays, and a deploy of a tampered version is refused from the bucket's bytes."""

from __future__ import annotations

import json
import os
import time
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from deploykit.cli import main
from deploykit.errors import ArtifactIntegrityError, PickleWarning
from deploykit.registry.gc import collect_garbage
from tests.integration.conftest import Team

HOUR = 3600.0


def test_gc_removes_an_orphan_blob_from_the_bucket_and_keeps_the_rest(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    X = np.arange(8.0).reshape(4, 2)
    with team.registry() as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        for c in (1.0, 0.5):
            reg.push(LogisticRegression(C=c).fit(X, [0, 0, 1, 1]), "churn")
        # A push killed between upload and commit leaves exactly this: a blob, no version.
        orphan = reg.artifacts.put_stream([os.urandom(4096)]).digest
        referenced = sorted(v.digest for v in reg.versions("churn"))
        assert len(team.objects()) == 3

        # Now, it could be a push in progress: kept (CLI, JSON).
        with pytest.raises(SystemExit) as done:
            main(["gc", "--json"])
        assert done.value.code in (0, None)
        report = json.loads(capsys.readouterr().out)
        assert report["removed"] == []
        assert report["recent"] == 1
        assert report["referenced"] == 2

        later = time.time() + 2 * HOUR
        dry = collect_garbage(reg, now=later, dry_run=True)
        assert [(r.kind, r.name) for r in dry.removed if r.kind == "blob"] == [("blob", orphan)]
        assert len(team.objects()) == 3

        collected = collect_garbage(reg, now=later)
        assert sorted(r.kind for r in collected.removed) == ["blob", "cached copy"]
        assert collected.bytes_freed == 2 * 4096
        assert len(team.objects()) == 2
        assert not reg.artifacts.exists(orphan)
        for digest in referenced:
            reg.artifacts.verify(digest)  # streamed from the bucket and rehashed


def test_a_deploy_verifies_the_bucket_not_a_cached_copy(team: Team) -> None:
    X = np.arange(8.0).reshape(4, 2)
    with team.registry() as reg, warnings.catch_warnings():
        warnings.simplefilter("ignore", PickleWarning)
        reg.push(LogisticRegression().fit(X, [0, 0, 1, 1]), "churn", deploy=True)
        version = reg.push(LogisticRegression(C=0.5).fit(X, [0, 0, 1, 1]), "churn")
        d = version.digest
        # The bucket's object is damaged; the local cache still holds a sound copy.
        team.s3.filesystem().pipe(f"{team.prefix}/sha256/{d[7:9]}/{d[9:]}", b"not the model")
        with pytest.raises(ArtifactIntegrityError, match="churn:2 cannot become 'production'"):
            reg.deploy("churn", 2)
        assert reg.model("churn").aliases["production"] == 1
