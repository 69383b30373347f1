"""Heap settling after a model load: frozen in a server worker, untouched elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import gc, json, sys, weakref
from deploykit.server import memory

class Model:  # a model holding a reference cycle, as some estimators do
    def __init__(self):
        self.me = self

if sys.argv[1] == "server":
    memory.own_process_heap()
old = Model()
ref = weakref.ref(old)
memory.settle_heap()                 # first load: the model is frozen with the rest
frozen = gc.get_freeze_count()
del old                              # a deploy replaces it: only the cycle keeps it alive
gc.collect()                         # ordinary collections skip the frozen generation,
memory.settle_heap()                 # and so does a load that evicted nothing...
kept_by_freeze = ref() is not None
memory.settle_heap(reclaim_frozen=True)  # ...a load that evicted a version collects it
print(json.dumps({"frozen": frozen, "kept_by_freeze": kept_by_freeze,
                  "collected": ref() is None, "trim": memory.release_free_memory()}))
"""


def _run(mode: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_a_server_worker_freezes_its_heap_and_still_frees_a_replaced_model() -> None:
    result = _run("server")
    assert result["frozen"] > 1000  # the interpreter and the imports, out of every collection
    assert result["kept_by_freeze"] is True
    assert result["collected"] is True
    assert result["trim"] is (sys.platform == "linux")


def test_an_app_embedded_in_another_process_leaves_its_collector_alone() -> None:
    result = _run("embedded")
    assert result["frozen"] == 0
    assert result["kept_by_freeze"] is False
    assert result["collected"] is True
