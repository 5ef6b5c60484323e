"""The corpus: a directory of videos, cues, features and search indexes that survives restarts.

``corpus.py`` is the :class:`Corpus` (reads and transactional writes), ``store.py`` its SQLite
catalog, ``indexes.py`` the dense/BM25 search indexes over cue windows, ``files.py`` ids,
the inter-process lock and staging folders.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from vcval.corpus.corpus import Corpus

__all__ = ["Corpus"]


def __getattr__(name: str) -> Any:
    """``Corpus`` is imported on first use, so that ``vcval.ingest.prepare`` (which ``corpus.py`` imports)
    can import ``vcval.corpus.files`` without a cycle."""
    if name == "Corpus":
        from vcval.corpus.corpus import Corpus

        return Corpus
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
