"""``Corpus``: a directory of videos, transcripts, features and indexes that survives restarts.

Layout of a corpus directory::

    corpus.sqlite         meta (schema, generation, text encoder, window config), videos
                          (provenance: source path/URL, subtitle source, duration, content
                          hash, added_at, warnings), cues, windows (text + BM25 tokens)
    media/<id>.mp4        normalised H.264/AAC video (none for transcript-only records)
    features/<id>.npy     (T, 1280) float32 visual features (optional)
    index/dense.npz       FAISS IndexIDMap2(IndexFlatIP) over window vectors, + generation
    index/bm25_windows.npz, index/bm25_videos.npz   BM25 documents (tokens), + generation
    index/vectors/<id>.npy  (n_windows, D) float32 window embeddings: indexes are rebuilt
                          from these and the stored tokens, never by re-encoding
    clips/<id>_<start_ms>_<end_ms>.mp4   trimmed clip cache
    .staging/             per-ingest scratch space;  .lock   inter-process write lock

Transactions: heavy work (probe, transcode, ASR, visual features, text encoding) runs
outside the lock into ``.staging``. The commit then takes the lock and, in one SQLite
transaction, inserts the rows and bumps ``generation``; it moves the staged files into
place, updates the in-memory indexes, writes every index file to a temp name and renames
them, and only then COMMITs. Any failure rolls the transaction back, deletes the moved
files and reloads the indexes from the untouched files, so the corpus is exactly as
before. After a hard crash the index files may be one generation ahead of the database or
files may be unreferenced: ``Corpus.open`` rebuilds indexes whose generation differs from
the database's (from stored vectors + tokens) and deletes orphan files.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from vcval.errors import (
    DuplicateVideoError,
    InvalidInputError,
    InvalidMediaError,
    NotFoundError,
    SubtitleError,
    VCVALError,
)
from vcval.index import BM25Index, DenseIndex, Window, WindowConfig, make_windows, read_generation, tokenize
from vcval.types import Cue, Hit, VideoRecord

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v"})
TRANSCRIPT_EXTENSIONS = frozenset({".json"})
NO_CUES_WARNING = "no audio and no subtitles: the video is searchable by title only"
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_LOCK_TIMEOUT_S = 600.0

Progress = Callable[..., Any]
"""``progress(fraction: float, desc: str)``; a ``gradio.Progress`` fits."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS videos (
    pk INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    duration REAL NOT NULL,
    source TEXT NOT NULL,
    source_kind TEXT NOT NULL,
    subtitle_source TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    n_cues INTEGER NOT NULL,
    media_path TEXT,
    features_path TEXT,
    added_at TEXT NOT NULL,
    warnings TEXT NOT NULL DEFAULT '[]',
    info TEXT NOT NULL DEFAULT '{}',
    doc_tokens TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS cues (
    video_id TEXT NOT NULL REFERENCES videos(video_id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (video_id, idx)
);
CREATE TABLE IF NOT EXISTS windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    video_id TEXT NOT NULL REFERENCES videos(video_id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    first_cue INTEGER NOT NULL,
    last_cue INTEGER NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS windows_by_video ON windows(video_id, ordinal);
"""


# --------------------------------------------------------------------------- helpers
def validate_video_id(video_id: str) -> str:
    """Return ``video_id`` if it is 1-128 chars of ``[A-Za-z0-9_-]``, else InvalidInputError."""
    if not isinstance(video_id, str) or not _ID_RE.match(video_id):
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


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _atomic_save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, array)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _subtitle_source_for(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".vtt": "sidecar-vtt", ".json": "transcript"}.get(suffix, "sidecar-srt")


class _FileLock:
    """Exclusive inter-process lock on ``path`` (``fcntl.flock``; released if the process dies)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: Any = None

    def acquire(self, timeout: float | None = None) -> bool:
        """Try for ``timeout`` seconds (default ``_LOCK_TIMEOUT_S``); False if still held elsewhere."""
        timeout = _LOCK_TIMEOUT_S if timeout is None else timeout
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
        if self._fh is not None:
            import fcntl

            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


@dataclass
class _Staged:
    """One prepared video, ready to commit (everything computed, nothing in the corpus yet)."""

    video_id: str
    title: str
    duration: float
    source: str
    source_kind: str
    subtitle_source: str
    content_hash: str
    cues: list[Cue]
    windows: list[Window]
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    media_src: Path | None = None
    features: np.ndarray | None = None
    vectors: np.ndarray | None = None  # (n_windows, D) float32

    @property
    def window_tokens(self) -> list[list[str]]:
        return tokenize([w.text for w in self.windows])

    @property
    def doc_tokens(self) -> list[str]:
        return tokenize([" ".join([self.title] + [c.text for c in self.cues])])[0]


# --------------------------------------------------------------------------- corpus
class Corpus:
    """Videos and transcript-only records with their cues, features and search indexes.

    Open with :meth:`Corpus.open`. Thread-safe within a process; a lock file serialises
    writers across processes, and readers pick up other processes' commits.
    """

    def __init__(self, root: Path, db: sqlite3.Connection, *, text_encoder: Any, image_encoder: Any,
                 asr_model: Any, window: WindowConfig) -> None:
        self.root = root
        self._db = db
        self._text_encoder_spec = text_encoder
        self._text_encoder: Any = None if text_encoder is None or isinstance(text_encoder, (str, os.PathLike)) else text_encoder
        self._image_encoder = image_encoder
        self.asr_model = asr_model
        self.window_config = window
        self._mutex = threading.RLock()
        self._lock = _FileLock(root / ".lock")
        self._generation = -1
        self._dense: DenseIndex | None = None
        self._bm25_windows = BM25Index()
        self._bm25_videos = BM25Index()

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(
        cls,
        path: str | os.PathLike = "corpus",
        *,
        text_encoder: Any = None,
        image_encoder: Any = None,
        asr_model: Any = None,
        window: WindowConfig | None = None,
    ) -> "Corpus":
        """Create or load the corpus in directory ``path``.

        ``text_encoder``: a TextEncoder, a name/path for ``TextEncoder.load``, or None (the
        encoder the corpus was built with; the packaged MiniLM for a new corpus).
        ``window``: None = the corpus's stored WindowConfig (default for a new corpus).
        Encoders are loaded lazily, on first need.
        """
        root = Path(path).expanduser()
        if root.exists() and not root.is_dir():
            raise InvalidInputError(f"corpus path {root} is a file; give a directory (new or existing)")
        if root.is_dir() and not (root / "corpus.sqlite").exists() and any(root.iterdir()):
            raise InvalidInputError(
                f"{root} is not a vcval corpus (no corpus.sqlite) and is not empty; "
                "give a new or empty directory for a new corpus"
            )
        for sub in ("media", "features", "index/vectors", "clips", ".staging"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(root / "corpus.sqlite", isolation_level=None, check_same_thread=False, timeout=60)
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(_SCHEMA)
        defaults = {"schema_version": str(SCHEMA_VERSION), "generation": "0",
                    "window": json.dumps((window or WindowConfig()).to_dict()), "created_at": _now()}
        for key, value in defaults.items():
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
        version = int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
        if version != SCHEMA_VERSION:
            db.close()
            raise VCVALError(f"corpus {root} has schema version {version}; this vcval reads version {SCHEMA_VERSION}")
        stored_window = WindowConfig.from_dict(json.loads(db.execute("SELECT value FROM meta WHERE key='window'").fetchone()[0]))
        if window is not None and window != stored_window:
            logger.warning("corpus %s was windowed with %s; new videos will use %s", root, stored_window, window)
        corpus = cls(root, db, text_encoder=text_encoder, image_encoder=image_encoder,
                     asr_model=asr_model, window=window or stored_window)
        with corpus._mutex:
            if corpus._lock.acquire(timeout=0):
                try:
                    corpus._cleanup_orphans()
                    corpus._load_indexes(save_if_rebuilt=True)
                finally:
                    corpus._lock.release()
            else:  # another process is writing: load read-only, it will tidy up
                corpus._load_indexes(save_if_rebuilt=False)
        logger.info("opened corpus %s: %d videos, generation %d", root, len(corpus), corpus._generation)
        return corpus

    def close(self) -> None:
        """Close the database connection (the object is unusable afterwards)."""
        with self._mutex:
            self._db.close()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Corpus({str(self.root)!r}, videos={len(self)})"

    # ------------------------------------------------------------------ encoders
    @property
    def text_encoder(self) -> Any:
        """The text encoder of this corpus (loaded on first use)."""
        if self._text_encoder is None:
            from vcval.encoders import DEFAULT_TEXT_ENCODER, TextEncoder

            spec = self._text_encoder_spec if self._text_encoder_spec is not None else self._meta("text_encoder")
            self._text_encoder = TextEncoder.load(None if spec in (None, DEFAULT_TEXT_ENCODER) else spec)
        self.check_encoder(self._text_encoder)
        return self._text_encoder

    def check_encoder(self, encoder: Any) -> None:
        """InvalidInputError if the stored window vectors were made by a different encoder."""
        name, dim = self._meta("text_encoder"), self._meta("text_dim")
        if name is None:
            return
        with self._mutex:
            if self._db.execute("SELECT 1 FROM windows LIMIT 1").fetchone() is None:
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
    def _meta(self, key: str) -> str | None:
        with self._mutex:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def _n_windows(self) -> int:
        with self._mutex:
            return int(self._db.execute("SELECT COUNT(*) FROM windows").fetchone()[0])

    @property
    def generation(self) -> int:
        """Counter bumped by every committed change."""
        return int(self._meta("generation") or 0)

    def __len__(self) -> int:
        with self._mutex:
            return int(self._db.execute("SELECT COUNT(*) FROM videos").fetchone()[0])

    def __contains__(self, video_id: object) -> bool:
        if not isinstance(video_id, str):
            return False
        with self._mutex:
            return self._db.execute("SELECT 1 FROM videos WHERE video_id=?", (video_id,)).fetchone() is not None

    def __iter__(self) -> Iterator[VideoRecord]:
        with self._mutex:
            rows = self._db.execute(f"SELECT {self._REC_COLS} FROM videos ORDER BY pk").fetchall()
        return iter([self._record(r) for r in rows])

    _REC_COLS = ("video_id, title, duration, source, subtitle_source, content_hash, n_cues, "
                 "media_path, features_path, added_at")

    @staticmethod
    def _record(row: Sequence[Any]) -> VideoRecord:
        return VideoRecord(*row)

    def video_ids(self) -> list[str]:
        """All ids, in insertion order."""
        with self._mutex:
            return [r[0] for r in self._db.execute("SELECT video_id FROM videos ORDER BY pk")]

    def get(self, video_id: str) -> VideoRecord:
        """The record of ``video_id`` (NotFoundError if absent)."""
        with self._mutex:
            row = self._db.execute(f"SELECT {self._REC_COLS} FROM videos WHERE video_id=?", (video_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no video {video_id!r} in corpus {self.root}; list ids with `vcval list`")
        return self._record(row)

    def cues(self, video_id: str) -> list[Cue]:
        """The cleaned cues of a video, in order."""
        self.get(video_id)
        with self._mutex:
            rows = self._db.execute("SELECT idx, start, end, text FROM cues WHERE video_id=? ORDER BY idx",
                                    (video_id,)).fetchall()
        return [Cue(*r) for r in rows]

    def windows(self, video_id: str) -> list[Window]:
        """The retrieval windows of a video, in order."""
        self.get(video_id)
        with self._mutex:
            rows = self._db.execute("SELECT first_cue, last_cue, start, end, text FROM windows "
                                    "WHERE video_id=? ORDER BY ordinal", (video_id,)).fetchall()
        return [Window(*r) for r in rows]

    def warnings(self, video_id: str) -> list[str]:
        """Warnings recorded when the video was ingested (e.g. dropped cues, no subtitles)."""
        self.get(video_id)
        with self._mutex:
            row = self._db.execute("SELECT warnings FROM videos WHERE video_id=?", (video_id,)).fetchone()
        return list(json.loads(row[0]))

    def info(self, video_id: str) -> dict[str, Any]:
        """Extra provenance recorded at ingest (source kind, probe results, download info)."""
        self.get(video_id)
        with self._mutex:
            row = self._db.execute("SELECT source_kind, info FROM videos WHERE video_id=?", (video_id,)).fetchone()
        return {"source_kind": row[0], **json.loads(row[1])}

    def features(self, video_id: str) -> np.ndarray | None:
        """(T, D) float32 visual features, or None when the record has none."""
        rec = self.get(video_id)
        if rec.features_path is None:
            return None
        return np.load(self.root / rec.features_path)

    def media_file(self, video_id: str) -> Path | None:
        """Absolute path of the normalised mp4, or None for transcript-only records."""
        rec = self.get(video_id)
        return None if rec.media_path is None else self.root / rec.media_path

    def find_by_hash(self, content_hash: str) -> str | None:
        """Id of the record whose content has this sha256, if any."""
        with self._mutex:
            row = self._db.execute("SELECT video_id FROM videos WHERE content_hash=?", (content_hash,)).fetchone()
        return None if row is None else row[0]

    def index_stats(self) -> dict[str, Any]:
        """Sizes of the database and the in-memory indexes (for tests, the CLI and debugging)."""
        with self._mutex:
            self._sync()
            return {
                "videos": len(self),
                "windows": self._n_windows(),
                "dense_vectors": 0 if self._dense is None else self._dense.ntotal,
                "bm25_windows": len(self._bm25_windows),
                "bm25_videos": len(self._bm25_videos),
                "generation": self._generation,
                "text_encoder": self._meta("text_encoder"),
            }

    # ------------------------------------------------------------------ search API (used by vcval.retrieval)
    def bm25_search(self, query: str, k: int, granularity: str = "window") -> list[Hit]:
        """BM25 over cue windows (``"window"``) or whole transcripts + titles (``"video"``), best first."""
        with self._mutex:
            self._sync()
            if granularity == "window":
                scores, ids = self._bm25_windows.search(query, k)
                return self._window_hits(ids, scores)
            if granularity == "video":
                scores, ids = self._bm25_videos.search(query, k)
                return self._video_hits(ids, scores)
        raise InvalidInputError(f"granularity must be 'window' or 'video', got {granularity!r}")

    def dense_search(self, query_vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-``k`` windows per query vector (Q, D) by cosine similarity; one list per query."""
        with self._mutex:
            self._sync()
            if self._dense is None:
                return [[] for _ in range(len(query_vectors))]
            scores, ids = self._dense.search(query_vectors, k)
            return [self._window_hits(i[i >= 0], s[i >= 0]) for s, i in zip(scores, ids)]

    def _window_hits(self, ids: np.ndarray, scores: np.ndarray) -> list[Hit]:
        if len(ids) == 0:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._db.execute(f"SELECT id, video_id, first_cue, last_cue, start, end FROM windows WHERE id IN ({marks})",
                                [int(i) for i in ids]).fetchall()
        by_id = {r[0]: r[1:] for r in rows}
        hits = []
        for i, s in zip(ids.tolist(), scores.tolist()):
            if i in by_id:
                video_id, first, last, start, end = by_id[i]
                hits.append(Hit(video_id, float(s), first, last, start, end))
        return hits

    def _video_hits(self, pks: np.ndarray, scores: np.ndarray) -> list[Hit]:
        if len(pks) == 0:
            return []
        marks = ",".join("?" * len(pks))
        rows = self._db.execute(f"SELECT pk, video_id, n_cues, duration FROM videos WHERE pk IN ({marks})",
                                [int(i) for i in pks]).fetchall()
        by_pk = {r[0]: r[1:] for r in rows}
        hits = []
        for i, s in zip(pks.tolist(), scores.tolist()):
            if i in by_pk:
                video_id, n_cues, duration = by_pk[i]
                hits.append(Hit(video_id, float(s), 0, n_cues - 1, 0.0, float(duration)))  # -1: no cues
        return hits

    # ------------------------------------------------------------------ indexes
    def _index_paths(self) -> dict[str, Path]:
        d = self.root / "index"
        return {"dense": d / "dense.npz", "bm25_windows": d / "bm25_windows.npz", "bm25_videos": d / "bm25_videos.npz"}

    def _vector_path(self, video_id: str) -> Path:
        return self.root / "index" / "vectors" / f"{video_id}.npy"

    def _sync(self) -> None:
        """Reload the indexes if another process (or a rollback) changed the database."""
        if self.generation != self._generation:
            self._load_indexes(save_if_rebuilt=False)

    def _load_indexes(self, *, save_if_rebuilt: bool) -> None:
        """Load index files; rebuild from stored vectors + tokens when stale or unreadable."""
        gen = self.generation
        paths = self._index_paths()
        try:
            if any(read_generation(p) != gen for p in paths.values()):
                raise VCVALError(f"index generation differs from the database's ({gen})")
            dense, _ = DenseIndex.load(paths["dense"])
            bm25w, _ = BM25Index.load(paths["bm25_windows"])
            bm25v, _ = BM25Index.load(paths["bm25_videos"])
            self._dense = dense if dense.ntotal or self._meta("text_dim") else None
            self._bm25_windows, self._bm25_videos = bm25w, bm25v
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
        dim = self._meta("text_dim")
        self._dense = DenseIndex(int(dim)) if dim is not None else None
        self._bm25_windows, self._bm25_videos = BM25Index(), BM25Index()
        rows = self._db.execute("SELECT pk, video_id, doc_tokens FROM videos ORDER BY pk").fetchall()
        self._bm25_videos.add([r[0] for r in rows], [r[2].split() for r in rows])
        for _, video_id, _ in rows:
            wins = self._db.execute("SELECT id, tokens, text FROM windows WHERE video_id=? ORDER BY ordinal",
                                    (video_id,)).fetchall()
            if not wins:
                continue
            ids = np.array([w[0] for w in wins], np.int64)
            self._bm25_windows.add(ids.tolist(), [w[1].split() for w in wins])
            vectors = self._load_vectors(video_id, len(wins))
            if vectors is None:
                logger.warning("window vectors of %s are missing or damaged: re-encoding them", video_id)
                vectors = self.text_encoder.encode([w[2] for w in wins])
                _atomic_save_npy(self._vector_path(video_id), vectors)
            if self._dense is None:
                self._dense = DenseIndex(vectors.shape[1])
            self._dense.add(ids, vectors)

    def _load_vectors(self, video_id: str, n: int) -> np.ndarray | None:
        try:
            v = np.load(self._vector_path(video_id))
        except (OSError, ValueError, EOFError):
            return None
        dim = self._meta("text_dim")
        if v.ndim != 2 or v.shape[0] != n or (dim is not None and v.shape[1] != int(dim)):
            return None
        return v.astype(np.float32, copy=False)

    def _save_indexes(self, generation: int) -> None:
        """Write all index files under temp names, then rename them all (originals untouched on failure)."""
        paths = self._index_paths()
        pending = {k: p.with_name(p.name + ".pending") for k, p in paths.items()}
        try:
            dense = self._dense if self._dense is not None else DenseIndex(int(self._meta("text_dim") or 1))
            dense.save(pending["dense"], generation)
            self._bm25_windows.save(pending["bm25_windows"], generation)
            self._bm25_videos.save(pending["bm25_videos"], generation)
        except BaseException:
            for p in pending.values():
                p.unlink(missing_ok=True)
            raise
        for k in paths:
            os.replace(pending[k], paths[k])

    # ------------------------------------------------------------------ locking / housekeeping
    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        with self._mutex:
            if not self._lock.acquire():
                raise VCVALError(
                    f"corpus {self.root} is locked by another vcval process for over {_LOCK_TIMEOUT_S:.0f} s; "
                    "wait for it to finish (the lock is released when that process exits)"
                )
            try:
                self._sync()
                yield
            finally:
                self._lock.release()

    def _cleanup_orphans(self) -> None:
        """Delete files no database row references (left by a crash); call under the write lock."""
        with self._mutex:
            ids = set(self.video_ids())
            rows = self._db.execute("SELECT media_path, features_path FROM videos").fetchall()
        referenced = {p for r in rows for p in r if p}
        for sub in ("media", "features"):
            for f in (self.root / sub).iterdir():
                if f"{sub}/{f.name}" not in referenced:
                    self._unlink(f)
        for f in (self.root / "index" / "vectors").iterdir():
            if f.suffix != ".npy" or f.stem not in ids:
                self._unlink(f)
        for f in (self.root / "index").iterdir():
            if f.is_file() and (f.name.startswith(".") or f.name.endswith(".pending")):
                self._unlink(f)
        for f in (self.root / "clips").iterdir():
            parts = f.stem.rsplit("_", 2)
            if f.name.startswith(".") or len(parts) != 3 or parts[0] not in ids:
                self._unlink(f)
        for d in (self.root / ".staging").iterdir():  # <pid>_<hex>: keep those of live processes
            pid = d.name.split("_", 1)[0]
            if not pid.isdigit() or not _pid_alive(int(pid)):
                self._unlink(d)

    @staticmethod
    def _unlink(path: Path) -> None:
        try:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
            logger.info("removed orphan %s", path)
        except OSError as exc:  # pragma: no cover
            logger.warning("could not remove %s: %s", path, exc)

    @contextlib.contextmanager
    def _staging(self) -> Iterator[Path]:
        d = self.root / ".staging" / f"{os.getpid()}_{uuid.uuid4().hex[:12]}"
        d.mkdir(parents=True)
        try:
            yield d
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # ------------------------------------------------------------------ commit / remove
    def _commit(self, items: list[_Staged]) -> list[VideoRecord]:
        """Insert prepared videos atomically (all or nothing) and update the indexes."""
        if not items:
            return []
        encoder = self._text_encoder  # set by _encode_windows whenever a batch has windows
        with self._write_lock():
            seen: set[str] = set()
            for it in items:  # under the lock: no other writer can interleave
                self._check_new(it, seen)
                seen.add(it.content_hash)
            db, moved = self._db, []
            db.execute("BEGIN IMMEDIATE")
            try:
                new_dense: list[tuple[np.ndarray, np.ndarray]] = []
                for it in items:
                    moved += self._place_files(it)
                    doc_tokens = it.doc_tokens
                    cur = db.execute(
                        "INSERT INTO videos(video_id, title, duration, source, source_kind, subtitle_source, "
                        "content_hash, n_cues, media_path, features_path, added_at, warnings, info, doc_tokens) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (it.video_id, it.title, it.duration, it.source, it.source_kind, it.subtitle_source,
                         it.content_hash, len(it.cues),
                         f"media/{it.video_id}.mp4" if it.media_src is not None else None,
                         f"features/{it.video_id}.npy" if it.features is not None else None,
                         _now(), json.dumps(it.warnings), json.dumps(it.info, default=str),
                         " ".join(doc_tokens)))
                    self._bm25_videos.add([cur.lastrowid], [doc_tokens])
                    db.executemany("INSERT INTO cues(video_id, idx, start, end, text) VALUES (?,?,?,?,?)",
                                   [(it.video_id, i, c.start, c.end, c.text) for i, c in enumerate(it.cues)])
                    tokens = it.window_tokens
                    ids = [db.execute("INSERT INTO windows(video_id, ordinal, first_cue, last_cue, start, end, text, tokens) "
                                      "VALUES (?,?,?,?,?,?,?,?)",
                                      (it.video_id, o, w.first_cue, w.last_cue, w.start, w.end, w.text, " ".join(t))).lastrowid
                           for o, (w, t) in enumerate(zip(it.windows, tokens))]
                    self._bm25_windows.add(ids, tokens)
                    if ids:
                        new_dense.append((np.array(ids, np.int64), it.vectors))
                if new_dense:
                    if self._n_windows() == sum(len(i) for i, _ in new_dense):  # first vectors: record the encoder
                        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('text_encoder', ?)", (encoder.name,))
                        db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('text_dim', ?)", (str(encoder.dim),))
                        if self._dense is None or self._dense.dim != int(encoder.dim):
                            self._dense = DenseIndex(int(encoder.dim))
                    for ids_arr, vecs in new_dense:
                        self._dense.add(ids_arr, vecs)
                gen = self._generation + 1
                db.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
                self._save_indexes(gen)
                db.execute("COMMIT")
                self._generation = gen
            except BaseException:
                self._rollback(moved)
                raise
        records = [self.get(it.video_id) for it in items]
        for rec in records:
            logger.info("added %s (%s, %d cues, subtitles: %s)", rec.video_id, rec.title, rec.n_cues, rec.subtitle_source)
        return records

    def _check_new(self, it: _Staged, seen: set[str]) -> None:
        dup = self.find_by_hash(it.content_hash)
        if dup is not None or it.content_hash in seen:
            other = dup or "another file of this batch"
            raise DuplicateVideoError(f"{it.source} has the same content as {other!r}, already in the corpus; "
                                      "remove that one first to re-ingest", dup or it.video_id)
        if it.video_id in self:
            raise InvalidInputError(f"video id {it.video_id!r} is already used in {self.root}; "
                                    "pass another video_id or remove the existing one first")

    def _place_files(self, it: _Staged) -> list[Path]:
        placed: list[Path] = []
        try:
            if it.media_src is not None:
                dst = self.root / "media" / f"{it.video_id}.mp4"
                os.replace(it.media_src, dst)
                placed.append(dst)
            if it.features is not None:
                dst = self.root / "features" / f"{it.video_id}.npy"
                _atomic_save_npy(dst, np.asarray(it.features, dtype=np.float32))
                placed.append(dst)
            if it.windows:
                dst = self._vector_path(it.video_id)
                _atomic_save_npy(dst, np.asarray(it.vectors, dtype=np.float32))
                placed.append(dst)
        except BaseException:
            for p in placed:
                p.unlink(missing_ok=True)
            raise
        return placed

    def _rollback(self, placed: Iterable[Path]) -> None:
        """Undo a failed write: database, files placed so far, and the in-memory indexes."""
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # pragma: no cover
            logger.error("rollback failed: %s", exc)
        for p in placed:
            p.unlink(missing_ok=True)
        self._load_indexes(save_if_rebuilt=False)  # the index files on disk were never replaced

    def remove(self, video_id: str) -> VideoRecord:
        """Delete a video, its rows, files, vectors and cached clips; returns its record."""
        with self._write_lock():
            rec = self.get(video_id)
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                pk = db.execute("SELECT pk FROM videos WHERE video_id=?", (video_id,)).fetchone()[0]
                ids = [r[0] for r in db.execute("SELECT id FROM windows WHERE video_id=?", (video_id,))]
                db.execute("DELETE FROM windows WHERE video_id=?", (video_id,))
                db.execute("DELETE FROM cues WHERE video_id=?", (video_id,))
                db.execute("DELETE FROM videos WHERE video_id=?", (video_id,))
                if self._dense is not None:
                    self._dense.remove(ids)
                self._bm25_windows.remove(ids)
                self._bm25_videos.remove([pk])
                gen = self._generation + 1
                db.execute("UPDATE meta SET value=? WHERE key='generation'", (str(gen),))
                self._save_indexes(gen)
                db.execute("COMMIT")
                self._generation = gen
            except BaseException:
                self._rollback([])
                raise
            files = [self.root / p for p in (rec.media_path, rec.features_path) if p]
            files.append(self._vector_path(video_id))
            files += [f for f in (self.root / "clips").iterdir() if f.stem.rsplit("_", 2)[0] == video_id]
            for f in files:
                if f.exists():
                    self._unlink(f)
        logger.info("removed %s", video_id)
        return rec

    # ------------------------------------------------------------------ ingest: shared steps
    def _encode_windows(self, items: list[_Staged], progress: bool = False) -> None:
        """Fill ``vectors`` of every item with one batched encoder pass over all windows."""
        texts = [w.text for it in items for w in it.windows]
        if not texts:
            for it in items:
                it.vectors = np.zeros((0, 0), np.float32)
            return
        encoder = self.text_encoder
        chunk = 1024
        parts = []
        bar = _tqdm(total=len(texts), desc="encoding windows", unit="win", disable=not progress)
        for s in range(0, len(texts), chunk):
            parts.append(encoder.encode(texts[s : s + chunk]))
            bar.update(min(chunk, len(texts) - s))
        bar.close()
        vectors = np.concatenate(parts)  # (N, D)
        offset = 0
        for it in items:
            it.vectors = vectors[offset : offset + len(it.windows)]
            offset += len(it.windows)

    def _resolve_id(self, video_id: str | None, stem: str, content_hash: str, *, prefer_stem: bool) -> tuple[str, bool]:
        if video_id is not None:
            return validate_video_id(video_id), False
        if prefer_stem and _ID_RE.match(stem) and stem not in self:
            return stem, True
        return default_video_id(stem, content_hash), True

    def _precheck(self, path: Path, content_hash: str) -> None:
        dup = self.find_by_hash(content_hash)
        if dup is not None:
            raise DuplicateVideoError(f"{path.name} has the same content as {dup!r}, already in the corpus; "
                                      "remove that one first to re-ingest", dup)

    # ------------------------------------------------------------------ ingest: transcripts
    def add_transcript(self, path: str | os.PathLike, *, video_id: str | None = None, title: str | None = None,
                       duration: float | None = None, features_path: str | os.PathLike | None = None) -> VideoRecord:
        """Add a transcript-only record (no media) from a subtitle/transcript file (``.json``, .srt, .vtt).

        The default id is the file stem when it is a valid, unused id (so dataset ids such as
        YouTube ids survive), else slug + hash. ``duration`` defaults to the last cue's end;
        ``features_path`` optionally gives a (T, D) ``.npy`` of visual features.
        """
        item = self._prepare_transcript(Path(path), video_id=video_id, title=title, duration=duration,
                                        features_path=features_path)
        self._encode_windows([item])
        return self._commit([item])[0]

    def add_transcripts(self, paths: Iterable[str | os.PathLike], progress: bool = True) -> list[VideoRecord]:
        """Add many transcript files with one batched encoding pass and one commit (all or nothing)."""
        return self._add_transcripts(paths, progress=progress, collect=False)[0]

    def _add_transcripts(self, paths: Iterable[str | os.PathLike], *, progress: bool,
                         collect: bool) -> tuple[list[VideoRecord], list[tuple[Path, str]]]:
        items: list[_Staged] = []
        failures: list[tuple[Path, str]] = []
        taken: set[str] = set()
        hashes: set[str] = set()
        for p in _tqdm(list(paths), desc="reading transcripts", unit="file", disable=not progress):
            p = Path(p)
            try:
                it = self._prepare_transcript(p, taken=taken)
                if it.content_hash in hashes:
                    raise DuplicateVideoError(f"{p} has the same content as another file of this batch", it.video_id)
            except VCVALError as exc:
                if not collect:
                    raise
                logger.warning("skipping %s: %s", p, exc)
                failures.append((p, str(exc)))
                continue
            taken.add(it.video_id)
            hashes.add(it.content_hash)
            items.append(it)
        self._encode_windows(items, progress=progress)
        return self._commit(items), failures

    def _prepare_transcript(self, path: Path, *, video_id: str | None = None, title: str | None = None,
                            duration: float | None = None, features_path: str | os.PathLike | None = None,
                            taken: set[str] | None = None) -> _Staged:
        from vcval.ingest import subtitles

        if video_id is not None:
            validate_video_id(video_id)
        if not path.is_file():
            raise NotFoundError(f"transcript file {path} does not exist")
        content_hash = sha256_file(path)
        self._precheck(path, content_hash)
        vid, is_default = self._resolve_id(video_id, path.stem, content_hash, prefer_stem=True)
        if is_default and taken is not None and vid in taken:
            vid = default_video_id(path.stem, content_hash)
        cues = subtitles.parse_subtitles(path)
        if duration is None:
            duration = max((c.end for c in cues), default=0.0)
        if duration < 0:
            raise InvalidInputError(f"duration must be >= 0 seconds, got {duration}")
        cues, warnings = subtitles.clean_cues(cues, duration=duration)
        features = None
        if features_path is not None:
            features = _load_features(Path(features_path))
        return _Staged(video_id=vid, title=title or path.stem, duration=float(duration), source=str(path.resolve()),
                       source_kind="transcript", subtitle_source="transcript", content_hash=content_hash,
                       cues=list(cues), windows=make_windows(cues, self.window_config), warnings=list(warnings),
                       features=features)

    # ------------------------------------------------------------------ ingest: videos
    def add_video(self, path: str | os.PathLike, subtitles: str | os.PathLike | None = None, *, title: str | None = None,
                  video_id: str | None = None, visual_features: bool = True, progress: Progress | None = None) -> VideoRecord:
        """Ingest a video file: probe, normalise to H.264/AAC, get cues, features, window vectors; commit.

        Cues come from: ``subtitles`` > sidecar .srt/.vtt > embedded subtitle track > ASR (if the
        video has audio) > none (kept, with the warning "no audio and no subtitles: the video is
        searchable by title only"). ``progress(fraction, desc=...)`` is called between stages.
        """
        return self._add_video(Path(path), subtitles, title=title, video_id=video_id,
                               visual_features=visual_features, progress=progress)

    def _add_video(self, path: Path, subtitles: str | os.PathLike | None, *, title: str | None, video_id: str | None,
                   visual_features: bool, progress: Progress | None, source: str | None = None,
                   subtitle_source: str | None = None, info: dict[str, Any] | None = None) -> VideoRecord:
        from vcval import media

        report = (lambda f, d: progress(f, desc=d)) if progress is not None else (lambda f, d: None)
        if video_id is not None:
            validate_video_id(video_id)
        if not path.is_file():
            raise NotFoundError(f"video file {path} does not exist")
        if subtitles is not None and not Path(subtitles).is_file():
            raise NotFoundError(f"subtitle file {subtitles} does not exist")
        report(0.0, "hashing")
        content_hash = sha256_file(path)
        self._precheck(path, content_hash)
        vid, _ = self._resolve_id(video_id, path.stem, content_hash, prefer_stem=False)
        if vid in self:
            raise InvalidInputError(f"video id {vid!r} is already used; pass another video_id or remove it first")
        report(0.05, "probing")
        meta = media.probe(path)
        if not meta.has_video:
            raise InvalidMediaError(f"{path.name} has no video stream; vcval ingests videos (add a transcript "
                                    "with add_transcript for audio-only material)")
        with self._staging() as stage:
            report(0.1, "transcoding to H.264/AAC")
            staged_media = stage / "media.mp4"
            media.normalize(path, staged_media)
            report(0.4, "reading subtitles")
            cues, src, warnings = self._cues_for(path, staged_media, meta, subtitles)
            from vcval.ingest import subtitles as subs

            cues, clean_warnings = subs.clean_cues(cues, duration=meta.duration)
            warnings += list(clean_warnings)
            if subtitle_source is not None and src not in ("asr", "none", "embedded"):
                src = subtitle_source
            features = None
            if visual_features:
                report(0.6, "extracting visual features")
                from vcval.ingest import visual

                features = visual.extract_visual_features(staged_media, encoder=self.image_encoder)
            item = _Staged(video_id=vid, title=title or path.stem, duration=float(meta.duration),
                           source=source or str(path.resolve()), source_kind="url" if source else "file",
                           subtitle_source=src, content_hash=content_hash, cues=list(cues),
                           windows=make_windows(cues, self.window_config), warnings=warnings,
                           info={"width": meta.width, "height": meta.height, "has_audio": meta.has_audio,
                                 "original_name": path.name, **(info or {})},
                           media_src=staged_media, features=features)
            report(0.8, "encoding subtitles")
            self._encode_windows([item])
            report(0.9, "saving")
            record = self._commit([item])[0]
        report(1.0, "done")
        return record

    def _cues_for(self, path: Path, staged_media: Path, meta: Any,
                  subtitles: str | os.PathLike | None) -> tuple[list[Cue], str, list[str]]:
        """Cues and their source: explicit file > sidecar > embedded track > ASR > none."""
        from vcval import media
        from vcval.ingest import subtitles as subs

        warnings: list[str] = []
        if subtitles is not None:
            sub = Path(subtitles)
            return list(subs.parse_subtitles(sub)), _subtitle_source_for(sub), warnings
        sidecar = subs.find_sidecar(path)
        if sidecar is not None:
            try:
                return list(subs.parse_subtitles(sidecar)), _subtitle_source_for(sidecar), warnings
            except SubtitleError as exc:
                warnings.append(f"sidecar {sidecar.name} ignored: {exc}")
                logger.warning("%s: %s", path.name, warnings[-1])
        if meta.n_subtitle_streams > 0:
            try:
                text = media.extract_subtitle_track(path)
                if text and text.strip():
                    return list(subs.parse_subtitle_text(text, "srt")), "embedded", warnings
            except (SubtitleError, InvalidMediaError) as exc:
                warnings.append(f"embedded subtitle track ignored: {exc}")
                logger.warning("%s: %s", path.name, warnings[-1])
        if meta.has_audio:
            from vcval.ingest import asr

            cues = list(asr.transcribe(staged_media, model=self.asr_model))
            if not cues:
                warnings.append("speech recognition found no speech: the video is searchable by title only")
            return cues, "asr", warnings
        warnings.append(NO_CUES_WARNING)
        logger.warning("%s: %s", path.name, NO_CUES_WARNING)
        return [], "none", warnings

    def add_url(self, url: str, *, title: str | None = None, video_id: str | None = None,
                visual_features: bool = True, progress: Progress | None = None) -> VideoRecord:
        """Download ``url`` (yt-dlp, with platform captions when offered) and ingest it; source = the URL.

        Keyword arguments are those of :meth:`add_video`; the title defaults to the page's.
        """
        from vcval.ingest import download as dl

        if not isinstance(url, str) or not re.match(r"^https?://", url.strip()):
            raise InvalidInputError(f"not an http(s) URL: {url!r}")
        with self._staging() as stage:
            res = dl.download(url.strip(), stage)
            info = {"url": res.url, "subtitle_lang": getattr(res, "subtitle_lang", None),
                    "automatic_captions": getattr(res, "automatic_captions", False),
                    "download": {k: v for k, v in (res.info or {}).items()
                                 if isinstance(v, (str, int, float, bool)) or v is None}}
            return self._add_video(Path(res.video_path), res.subtitles_path, title=title or res.title,
                                   video_id=video_id, visual_features=visual_features, progress=progress,
                                   source=res.url or url, info=info,
                                   subtitle_source=res.subtitle_source if res.subtitles_path else None)

    def add_path(self, path: str | os.PathLike, recursive: bool = True,
                 progress: bool = True) -> tuple[list[VideoRecord], list[tuple[Path, str]]]:
        """Add a video file, a ``.json`` transcript, or every such file in a folder.

        Returns (records added, [(path, reason)] for files that failed); one bad file never
        stops the others. Transcripts are encoded in one batch and committed together.
        """
        root = Path(path)
        if not root.exists():
            raise NotFoundError(f"{root} does not exist")
        if root.is_file():
            files = [root]
        else:
            pattern = root.rglob("*") if recursive else root.glob("*")
            own = self.root.resolve()
            files = sorted(p for p in pattern if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(root).parts)
                           and own not in p.resolve().parents)  # never re-ingest this corpus's own files
        videos = [p for p in files if p.suffix.lower() in VIDEO_EXTENSIONS]
        from vcval.ingest.subtitles import find_sidecar

        # a <stem>.json next to <stem>.mp4 (and no .srt/.vtt) is that video's transcript, not a record
        file_set = set(files)
        video_json = {v: v.with_suffix(".json") for v in videos
                      if v.with_suffix(".json") in file_set and find_sidecar(v) is None}
        paired = set(video_json.values())
        transcripts = [p for p in files if p.suffix.lower() in TRANSCRIPT_EXTENSIONS and p not in paired]
        failures: list[tuple[Path, str]] = []
        if root.is_file() and not videos and not transcripts:
            return [], [(root, f"unsupported file type {root.suffix!r}: expected a video "
                               f"({', '.join(sorted(VIDEO_EXTENSIONS))}) or a .json transcript")]
        records: list[VideoRecord] = []
        if transcripts:
            try:
                recs, bad = self._add_transcripts(transcripts, progress=progress, collect=True)
                records += recs
                failures += bad
            except VCVALError as exc:
                failures += [(p, f"batch failed: {exc}") for p in transcripts]
        for p in _tqdm(videos, desc="ingesting videos", unit="video", disable=not progress):
            try:
                records.append(self.add_video(p, subtitles=video_json.get(p)))
            except VCVALError as exc:
                logger.warning("skipping %s: %s", p, exc)
                failures.append((p, str(exc)))
        return records, failures

    # ------------------------------------------------------------------ clips
    def clip(self, video_id: str, start: float, end: float) -> Path:
        """Path of the trimmed clip [start, end] s of a video (cached in ``clips/``)."""
        from vcval import media

        rec = self.get(video_id)
        if rec.media_path is None:
            raise NotFoundError(f"{video_id!r} is a transcript-only record: it has no video to cut a clip from")
        start = max(0.0, float(start))
        end = min(float(end), rec.duration) if rec.duration > 0 else float(end)
        if not end > start:
            raise InvalidInputError(f"clip end ({end:.3f} s) must be after its start ({start:.3f} s) "
                                    f"and inside the video (0-{rec.duration:.3f} s)")
        out = self.root / "clips" / f"{video_id}_{round(start * 1000)}_{round(end * 1000)}.mp4"
        if out.is_file() and out.stat().st_size > 0:
            return out
        tmp = out.with_name(f".{uuid.uuid4().hex[:12]}.mp4")
        try:
            media.trim(self.root / rec.media_path, tmp, start, end, accurate=False)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out


# --------------------------------------------------------------------------- module helpers
def _load_features(path: Path) -> np.ndarray:
    if not path.is_file():
        raise NotFoundError(f"features file {path} does not exist")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not a readable .npy array: {exc}") from exc
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
        raise InvalidInputError(f"{path}: expected a (T, D) numeric array of visual features, got shape {arr.shape}")
    return arr.astype(np.float32, copy=False)


def _tqdm(iterable: Any = None, **kw: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kw)
