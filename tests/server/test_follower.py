"""The alias follower compares where aliases point, not event ids; pushes do not wake it."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from sklearn.dummy import DummyClassifier

from deploykit.registry import Registry
from deploykit.server.config import ServerConfig
from deploykit.server.models import ModelHost
from tests.server.conftest import settings_for


def constant(label: int) -> DummyClassifier:
    return DummyClassifier(strategy="constant", constant=label).fit(np.zeros((4, 2)), [0, 1, 0, 1])


def test_poll_follows_alias_moves_and_nothing_else(tmp_path: Path) -> None:
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(constant(0), "m", deploy=True)
        host = ModelHost(reg, ServerConfig())
        try:
            assert host.poll() is True
            assert host.routes["m"].version == 1
            reg.push(constant(1), "m")  # a push moves no alias
            reg.record_alert("m", "p95 latency over 50 ms")
            assert host.poll() is False
            reg.deploy("m", 2)
            assert host.poll() is True
            assert host.routes["m"].version == 2
            assert host.poll() is False
            reg.delete_alias("m", "production")
            assert host.poll() is True
            assert "m" not in host.routes
        finally:
            host.close()


def test_a_swap_asked_for_by_a_deploy_is_not_undone_by_a_refresh_that_read_earlier(
    tmp_path: Path,
) -> None:
    """The follower reads the aliases, then the deploy route swaps; the refresh must not
    swap back to what it read (the route's swap waits for the refresh to finish)."""
    with Registry(settings_for(tmp_path)) as reg:
        reg.push(constant(0), "m", deploy=True)
        reg.push(constant(1), "m")
        host = ModelHost(reg, ServerConfig())
        host.poll()
        read, go = threading.Event(), threading.Event()
        stale = reg.alias_versions()  # {"m": 1}, read before the move

        def slow_refresh() -> None:
            with host._refresh_lock:
                read.set()
                go.wait(5)
                host._apply(stale)

        refresher = threading.Thread(target=slow_refresh)
        refresher.start()
        try:
            assert read.wait(5)
            reg.deploy("m", 2)
            swapper = threading.Thread(target=host.prepare, args=("m", 2), kwargs={"route": True})
            swapper.start()
            swapper.join(0.5)  # the swap would be done by now, had it not waited
            go.set()
            refresher.join(5)
            swapper.join(5)
            assert host.routes["m"].version == 2
        finally:
            host.close()
