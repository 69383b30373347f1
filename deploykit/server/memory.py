"""Keep a worker's heap out of the request path: after a model load, settle it.

Two costs of a freshly loaded model land on requests if nothing is done:

- Python's cyclic garbage collector. A worker holds ~150k long-lived objects
  (scikit-learn, SciPy, pandas, the model); one full collection walks them all in
  ~50 ms, and the prediction log's records, kept for seconds, trigger one every few
  seconds. Measured: p99 of a 0.2 ms predict at 15 ms with logging on, 1.5 ms with
  the collector off. ``gc.freeze()`` moves what exists after a load to the permanent
  generation, which collections skip; new objects are still collected.
- glibc keeps the heap freed by the unpickler (a tree's arrays are read, then
  copied) resident: ~20 MB for a 22 MB RandomForest. ``malloc_trim`` returns it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Callable

__all__ = ["own_process_heap", "release_free_memory", "settle_heap"]

_owns_heap = False


def own_process_heap() -> None:
    """Declare this process a server worker: :func:`settle_heap` may freeze its heap.

    ``deploykit serve`` does; an app embedded in another process (a notebook, a test)
    leaves that process's garbage collector alone.
    """
    global _owns_heap
    _owns_heap = True


def settle_heap(*, reclaim_frozen: bool = False) -> None:
    """Collect garbage, freeze the survivors, give free pages back to the OS.

    A collection skips what is frozen, so it is cheap. ``reclaim_frozen`` unfreezes
    first, so a version dropped from memory is collected even if it holds reference
    cycles: a full collection (~50 ms of held GIL), worth it only after an eviction.
    """
    if _owns_heap:
        if reclaim_frozen:
            gc.unfreeze()
        gc.collect()
        gc.freeze()
    release_free_memory()


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim  # CDLL releases the GIL during the call
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_free_memory() -> bool:
    """Return free heap pages to the OS; True if the C library could be asked."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
