"""Small helpers every stage shares: device selection and atomic file writes."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from vcval.errors import InvalidInputError

CHATTY_LOGGERS = ("vcval", "httpx", "sentence_transformers", "transformers", "bm25s")


def setup_script_logging(verbose: bool = False) -> None:
    """Logging for the benchmark and research scripts: INFO lines with time and logger name on stderr for the
    script's own progress; vcval's per-video chatter and the libraries' INFO (``CHATTY_LOGGERS``) only with
    ``verbose``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    if not verbose:
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)


def resolve_device(device: Any = "auto") -> str:
    """Map ``"auto"``/None to ``"cuda"`` when torch sees a CUDA device, else ``"cpu"``.

    An explicit ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (or a ``torch.device``) is returned as a
    string, after checking that CUDA is available when one is asked for. Anything else is an
    :class:`~vcval.errors.InvalidInputError`. Use ``torch.device(resolve_device(d))`` for torch.
    """
    if device == "cpu":  # no torch import: the ONNX runtime asks for the CPU without loading torch
        return "cpu"
    import torch

    if device is None or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or
                                           (device.startswith("cuda:") and device[5:].isdigit())):
        raise InvalidInputError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError(
            f"device {device!r} was requested but no CUDA device is available; use device='cpu' or 'auto'"
        )
    return device


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Call ``write(fh)`` on a temp file next to ``path``, fsync, then ``os.replace`` it (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` (any shape) to the ``.npy`` file ``path`` atomically."""
    atomic_write(path, lambda fh: np.save(fh, array))


def atomic_savez(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez`` of ``arrays`` into ``path`` atomically."""
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


@contextlib.contextmanager
def one_thread_if_small(size: int, limit: int, device: str) -> Iterator[None]:
    """Run a CPU forward pass over at most ``limit`` items (tokens, units) on one torch thread.

    Such a pass is ~100 tiny ops; with several intra-op threads each op ends at a barrier, and when
    another process holds a core every barrier waits a scheduler slice: measured on a 2-core machine
    with one busy core, 0.5 s per question with 2 threads against 0.02 s with one.
    """
    import torch

    if device != "cpu" or size > limit or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
