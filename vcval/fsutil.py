"""Crash-safe file primitives: atomic ``.npy`` writes, an inter-process lock, staging folders."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

logger = logging.getLogger(__name__)


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(fh)`` on a temp file next to ``path``, then ``os.replace`` it (all or nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (any shape) to the ``.npy`` file ``path`` atomically."""
    atomic_write(path, lambda fh: np.save(fh, array))


def remove_path(path: Path) -> None:
    """Delete a file or a folder tree; log (not raise) when that fails."""
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        logger.info("removed %s", path)
    except OSError as exc:  # pragma: no cover
        logger.warning("could not remove %s: %s", path, exc)


def pid_alive(pid: int) -> bool:
    """True unless no process ``pid`` exists (a process we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@contextlib.contextmanager
def staging_dir(parent: Path) -> Iterator[Path]:
    """A fresh ``<pid>_<hex>`` folder under ``parent``, deleted with its contents on exit."""
    d = parent / f"{os.getpid()}_{uuid.uuid4().hex[:12]}"
    d.mkdir(parents=True)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def remove_dead_staging(parent: Path) -> None:
    """Delete the staging folders under ``parent`` whose process is gone (left by a crash)."""
    for d in parent.iterdir():
        pid = d.name.split("_", 1)[0]
        if not pid.isdigit() or not pid_alive(int(pid)):
            remove_path(d)


class FileLock:
    """Exclusive inter-process lock on ``path`` (``fcntl.flock``; released if the process dies).

    Not re-entrant: acquire it once per process (guard it with a thread lock).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def acquire(self, timeout: float) -> bool:
        """Try for ``timeout`` seconds (0: once); False if another process still holds it."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no inter-process protection
            logger.warning("fcntl is unavailable: concurrent writers to %s are not prevented", self.path)
            return True
        fh = open(self.path, "a+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fh = fh
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.close()
                    return False
                time.sleep(0.05)

    def release(self) -> None:
        """Release the lock if this object holds it."""
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
