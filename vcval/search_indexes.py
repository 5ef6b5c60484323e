"""A corpus's three search indexes, in memory and in ``index/``: load, save, update.

``dense`` (FAISS, keyed by window id; None until the corpus has a text encoder),
``bm25_windows`` (keyed by window id) and ``bm25_videos`` (keyed by video pk, title +
transcript). Each file carries the database generation it was saved at, so a corpus
can tell stale files (left by a crash) from current ones. Window vectors are also kept
per video in ``index/vectors/<id>.npy``, so the indexes can be rebuilt without encoding.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vcval.errors import VCVALError
from vcval.index import BM25Index, DenseIndex, read_generation

INDEX_FILES = {"dense": "dense.npz", "bm25_windows": "bm25_windows.npz", "bm25_videos": "bm25_videos.npz"}


def load_vectors(path: Path, n: int, dim: int | None) -> np.ndarray | None:
    """(n, dim) float32 window vectors from ``path``; None when missing, unreadable or misshapen."""
    try:
        v = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    if v.ndim != 2 or v.shape[0] != n or (dim is not None and v.shape[1] != dim):
        return None
    return v.astype(np.float32, copy=False)


class SearchIndexes:
    """The dense and BM25 indexes of one corpus generation."""

    def __init__(self, dense: DenseIndex | None = None, bm25_windows: BM25Index | None = None,
                 bm25_videos: BM25Index | None = None) -> None:
        self.dense = dense
        self.bm25_windows = bm25_windows if bm25_windows is not None else BM25Index()
        self.bm25_videos = bm25_videos if bm25_videos is not None else BM25Index()

    @staticmethod
    def paths(folder: Path) -> dict[str, Path]:
        """The index files in ``folder``, by index name."""
        return {name: folder / file for name, file in INDEX_FILES.items()}

    @classmethod
    def load(cls, folder: Path, generation: int, *, keep_empty_dense: bool) -> "SearchIndexes":
        """The indexes saved at ``generation``; VCVALError when a file is stale or unreadable.

        An empty dense index is dropped (None) unless ``keep_empty_dense`` (the encoder is known).
        """
        paths = cls.paths(folder)
        if any(read_generation(p) != generation for p in paths.values()):
            raise VCVALError(f"index generation differs from the database's ({generation})")
        dense, _ = DenseIndex.load(paths["dense"])
        bm25w, _ = BM25Index.load(paths["bm25_windows"])
        bm25v, _ = BM25Index.load(paths["bm25_videos"])
        return cls(dense if dense.ntotal or keep_empty_dense else None, bm25w, bm25v)

    def save(self, folder: Path, generation: int, dim: int) -> None:
        """Write all index files under temp names, then rename them all (originals untouched on failure).

        ``dim``: vector size of the empty dense index saved while there is none.
        """
        paths = self.paths(folder)
        pending = {k: p.with_name(p.name + ".pending") for k, p in paths.items()}
        try:
            dense = self.dense if self.dense is not None else DenseIndex(dim)
            dense.save(pending["dense"], generation)
            self.bm25_windows.save(pending["bm25_windows"], generation)
            self.bm25_videos.save(pending["bm25_videos"], generation)
        except BaseException:
            for p in pending.values():
                p.unlink(missing_ok=True)
            raise
        for k in paths:
            os.replace(pending[k], paths[k])

    def ensure_dense(self, dim: int) -> None:
        """Start an empty dense index of ``dim`` unless one of that size exists."""
        if self.dense is None or self.dense.dim != dim:
            self.dense = DenseIndex(dim)

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (n,) int64 window ids with their (n, D) vectors to the dense index."""
        if self.dense is None:
            self.dense = DenseIndex(vectors.shape[1])
        self.dense.add(ids, vectors)

    def remove_video(self, pk: int, window_ids: Sequence[int]) -> None:
        """Drop a video's document and its windows from every index."""
        if self.dense is not None:
            self.dense.remove(window_ids)
        self.bm25_windows.remove(window_ids)
        self.bm25_videos.remove([pk])

    def stats(self) -> dict[str, Any]:
        """Number of entries per index."""
        return {"dense_vectors": 0 if self.dense is None else self.dense.ntotal,
                "bm25_windows": len(self.bm25_windows), "bm25_videos": len(self.bm25_videos)}
