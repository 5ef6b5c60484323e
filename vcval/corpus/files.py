"""Corpus files: video ids and content hashes, the inter-process lock, staging folders.

Atomic writes live in :mod:`vcval.utils`."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import time
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vcval.errors import InvalidInputError

logger = logging.getLogger(__name__)


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

    def holder(self) -> str:
        """Who holds the lock, as its holder wrote it ("pid 123 on host h since ..."), or "unknown"."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return "an unknown process"
        return text[:200] or "an unknown process"

    def acquire(self, timeout: float) -> bool:
        """Try for ``timeout`` seconds (0: once); False if another process still holds it.

        The holder writes ``pid N on host H since T`` into the lock file (see :meth:`holder`)."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no inter-process protection
            logger.warning("fcntl is unavailable: concurrent writers to %s are not prevented", self.path)
            return True
        fh = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), "r+")
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fh = fh
                try:
                    fh.seek(0)
                    fh.truncate()
                    fh.write(f"pid {os.getpid()} on host {socket.gethostname()} since "
                             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}\n")
                    fh.flush()
                except OSError:  # a full disk must not stop the lock from working
                    pass
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


# --------------------------------------------------------------------------- ids
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""A valid video id: 1-128 letters, digits, '-' or '_' (safe as a file name)."""


def validate_video_id(video_id: str) -> str:
    """Return ``video_id`` if it is 1-128 chars of ``[A-Za-z0-9_-]``, else InvalidInputError."""
    if not isinstance(video_id, str) or not ID_RE.match(video_id):
        raise InvalidInputError(
            f"invalid video id {video_id!r}: use 1-128 letters, digits, '-' or '_' "
            "(no path separators, dots or spaces)"
        )
    return video_id


def slugify(text: str, max_len: int = 48) -> str:
    """ASCII slug of ``text`` (lower-case, ``[a-z0-9_-]``); ``"video"`` if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", ascii_text).strip("-_").lower()
    slug = re.sub(r"-{2,}", "-", slug)[:max_len].strip("-_")
    return slug or "video"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_video_id(stem: str, content_hash: str) -> str:
    """Readable, stable id: slug of the file stem + '-' + first 8 hex of the content sha256."""
    return f"{slugify(stem)}-{content_hash[:8]}"
