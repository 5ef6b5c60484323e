"""Read side of a corpus: records, cues, windows, features, search, and in-memory indexes
that stay in step with the database.

:class:`CorpusReader` holds a corpus's state (root, :class:`~vcval.store.Store`, encoders,
:class:`~vcval.search_indexes.SearchIndexes`) and answers every query. Before a search it
compares the database ``generation`` with that of its indexes and reloads them when another
process (or a rolled-back change) moved it; stale or damaged index files are rebuilt from the
stored tokens and ``index/vectors/*.npy``, never by re-encoding intact vectors. Writes live in
:class:`vcval.corpus.Corpus`, its subclass.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vcval.errors import InvalidInputError, NotFoundError, VCVALError
from vcval.fsutil import atomic_save_npy
from vcval.index import DenseIndex, Window, WindowConfig
from vcval.search_indexes import SearchIndexes, load_vectors
from vcval.store import Store
from vcval.types import Cue, Hit, VideoRecord

logger = logging.getLogger(__name__)


class CorpusReader:
    """Queries and searches over one corpus directory; see :class:`vcval.corpus.Corpus`."""

    def __init__(self, root: Path, store: Store, *, text_encoder: Any, image_encoder: Any,
                 asr_model: Any, window: WindowConfig) -> None:
        """State only; open a corpus with :meth:`vcval.corpus.Corpus.open`."""
        self.root = root
        self._store = store
        self._text_encoder_spec = text_encoder
        self._text_encoder: Any = None if text_encoder is None or isinstance(text_encoder, (str, os.PathLike)) else text_encoder
        self._image_encoder = image_encoder
        self.asr_model = asr_model
        self.window_config = window
        self._mutex = store.mutex
        self._generation = -1
        self._indexes = SearchIndexes()

    # ------------------------------------------------------------------ encoders
    @property
    def text_encoder(self) -> Any:
        """The text encoder of this corpus (loaded on first use)."""
        if self._text_encoder is None:
            from vcval.encoders import DEFAULT_TEXT_ENCODER, TextEncoder

            spec = self._text_encoder_spec if self._text_encoder_spec is not None else self._store.meta("text_encoder")
            self._text_encoder = TextEncoder.load(None if spec in (None, DEFAULT_TEXT_ENCODER) else spec)
        self.check_encoder(self._text_encoder)
        return self._text_encoder

    def check_encoder(self, encoder: Any) -> None:
        """InvalidInputError if the stored window vectors were made by a different encoder."""
        name, dim = self._store.meta("text_encoder"), self._store.meta("text_dim")
        if name is None or not self._store.has_windows():
            return
        if encoder.name != name or int(encoder.dim) != int(dim):
            raise InvalidInputError(
                f"corpus {self.root} was indexed with text encoder {name!r} (dim {dim}), not "
                f"{encoder.name!r} (dim {encoder.dim}); open it with text_encoder={name!r} "
                "or ingest into a new corpus"
            )

    @property
    def image_encoder(self) -> Any:
        """The image encoder for visual features (loaded on first use)."""
        if self._image_encoder is None:
            from vcval.encoders import load_image_encoder

            self._image_encoder = load_image_encoder()
        return self._image_encoder

    # ------------------------------------------------------------------ read API
    @property
    def generation(self) -> int:
        """Counter bumped by every committed change."""
        return self._store.generation

    def __len__(self) -> int:
        return self._store.count_videos()

    def __contains__(self, video_id: object) -> bool:
        return isinstance(video_id, str) and self._store.contains(video_id)

    def __iter__(self) -> Iterator[VideoRecord]:
        return iter(self._store.records())

    def video_ids(self) -> list[str]:
        """All ids, in insertion order."""
        return self._store.video_ids()

    def get(self, video_id: str) -> VideoRecord:
        """The record of ``video_id`` (NotFoundError if absent)."""
        rec = self._store.record(video_id)
        if rec is None:
            raise NotFoundError(f"no video {video_id!r} in corpus {self.root}; list ids with `vcval list`")
        return rec

    def cues(self, video_id: str) -> list[Cue]:
        """The cleaned cues of a video, in order."""
        self.get(video_id)
        return self._store.cues(video_id)

    def windows(self, video_id: str) -> list[Window]:
        """The retrieval windows of a video, in order."""
        self.get(video_id)
        return self._store.windows(video_id)

    def warnings(self, video_id: str) -> list[str]:
        """Warnings recorded when the video was ingested (e.g. dropped cues, no subtitles)."""
        self.get(video_id)
        return self._store.warnings(video_id)

    def info(self, video_id: str) -> dict[str, Any]:
        """Extra provenance recorded at ingest (source kind, probe results, download info)."""
        self.get(video_id)
        return self._store.info(video_id)

    def features(self, video_id: str) -> np.ndarray | None:
        """(T, D) float32 visual features, or None when the record has none."""
        rec = self.get(video_id)
        return None if rec.features_path is None else np.load(self.root / rec.features_path)

    def media_file(self, video_id: str) -> Path | None:
        """Absolute path of the normalised mp4, or None for transcript-only records."""
        rec = self.get(video_id)
        return None if rec.media_path is None else self.root / rec.media_path

    def find_by_hash(self, content_hash: str) -> str | None:
        """Id of the record whose content has this sha256, if any."""
        return self._store.find_by_hash(content_hash)

    def index_stats(self) -> dict[str, Any]:
        """Sizes of the database and the in-memory indexes (for tests, the CLI and debugging)."""
        with self._mutex:
            self._sync()
            return {"videos": len(self), "windows": self._store.count_windows(), **self._indexes.stats(),
                    "generation": self._generation, "text_encoder": self._store.meta("text_encoder")}

    # ------------------------------------------------------------------ search API (used by vcval.retrieval)
    def bm25_search(self, query: str, k: int, granularity: str = "window") -> list[Hit]:
        """BM25 over cue windows (``"window"``) or whole transcripts + titles (``"video"``), best first."""
        with self._mutex:
            self._sync()
            if granularity == "window":
                scores, ids = self._indexes.bm25_windows.search(query, k)
                return self._store.window_hits(ids, scores)
            if granularity == "video":
                scores, ids = self._indexes.bm25_videos.search(query, k)
                return self._store.video_hits(ids, scores)
        raise InvalidInputError(f"granularity must be 'window' or 'video', got {granularity!r}")

    def dense_search(self, query_vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-``k`` windows per query vector (Q, D) by cosine similarity; one list per query."""
        with self._mutex:
            self._sync()
            if self._indexes.dense is None:
                return [[] for _ in range(len(query_vectors))]
            scores, ids = self._indexes.dense.search(query_vectors, k)
            return [self._store.window_hits(i[i >= 0], s[i >= 0]) for s, i in zip(scores, ids)]

    # ------------------------------------------------------------------ indexes
    def _vector_path(self, video_id: str) -> Path:
        return self.root / "index" / "vectors" / f"{video_id}.npy"

    def _sync(self) -> None:
        """Reload the indexes if another process (or a rollback) changed the database."""
        if self.generation != self._generation:
            self._load_indexes(save_if_rebuilt=False)

    def _load_indexes(self, *, save_if_rebuilt: bool) -> None:
        """Load index files; rebuild from stored vectors + tokens when stale or unreadable."""
        gen = self.generation
        try:
            self._indexes = SearchIndexes.load(self.root / "index", gen,
                                               keep_empty_dense=bool(self._store.meta("text_dim")))
            self._generation = gen
            return
        except VCVALError as exc:
            if gen > 0:
                logger.warning("rebuilding the indexes of %s from stored vectors and tokens: %s", self.root, exc)
        self._rebuild_indexes()
        self._generation = gen
        if save_if_rebuilt:
            self._save_indexes(gen)

    def _rebuild_indexes(self) -> None:
        """Indexes from the database tokens and ``index/vectors/*.npy`` (re-encodes only damaged files)."""
        dim = self._store.meta("text_dim")
        indexes = SearchIndexes(DenseIndex(int(dim)) if dim is not None else None)
        docs = self._store.video_documents()
        indexes.bm25_videos.add([pk for pk, _, _ in docs], [tokens for _, _, tokens in docs])
        for _, video_id, _ in docs:
            wins = self._store.window_documents(video_id)
            if not wins:
                continue
            ids = np.array([w[0] for w in wins], np.int64)
            indexes.bm25_windows.add(ids.tolist(), [w[1] for w in wins])
            vectors = load_vectors(self._vector_path(video_id), len(wins), None if dim is None else int(dim))
            if vectors is None:
                logger.warning("window vectors of %s are missing or damaged: re-encoding them", video_id)
                vectors = self.text_encoder.encode([w[2] for w in wins])
                atomic_save_npy(self._vector_path(video_id), vectors)
            indexes.add_vectors(ids, vectors)
        self._indexes = indexes

    def _save_indexes(self, generation: int) -> None:
        self._indexes.save(self.root / "index", generation, int(self._store.meta("text_dim") or 1))
