"""Files and folders deploykit keeps for one user: 0600 files, 0700 folders.

The registry database holds token hashes and the audit log, the artifact store holds
models (pickles among them: code), prediction logs hold what callers sent. None of it
is for the other accounts of a machine. New files are created private (an explicit
mode, not the process umask, which belongs to the user's notebook); a server process,
which writes only its own data, also runs with umask 077 (:func:`private_umask`).
Files found too open when a registry opens its home are tightened, if they are ours.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "FILE_MODE",
    "FOLDER_MODE",
    "create_private",
    "private_folder",
    "private_umask",
    "tighten",
]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700 folders; return it.

    Folders that already exist are left as they are (see :func:`tighten`).
    """
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another process
            folder.mkdir(mode=FOLDER_MODE)
    return path


def tighten(path: Path, mode: int = FILE_MODE) -> None:
    """Take group and other permissions off ``path`` if it exists, is ours and has any."""
    if os.name == "nt":  # no POSIX modes to tighten
        return
    with contextlib.suppress(OSError):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            return
        if stat.S_IMODE(info.st_mode) & 0o077:
            path.chmod(stat.S_IMODE(info.st_mode) & mode)


def create_private(path: Path) -> None:
    """Create the empty file ``path`` as 0600 if it does not exist yet."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))


@contextlib.contextmanager
def private_umask() -> Iterator[None]:
    """Run a server (a process of deploykit's own) with umask 077, restored afterwards."""
    if os.name == "nt":
        yield
        return
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)
