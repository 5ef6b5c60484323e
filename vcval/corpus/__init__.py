"""The corpus: a directory of videos, cues, features and search indexes that survives restarts.

``corpus.py`` is the :class:`Corpus` (reads and transactional writes), ``store.py`` its SQLite
catalog, ``indexes.py`` the dense/BM25 search indexes over cue windows, ``files.py`` ids,
the inter-process lock and staging folders.
"""
from __future__ import annotations

from vcval.corpus.corpus import Corpus

__all__ = ["Corpus"]
