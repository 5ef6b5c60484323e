"""``Corpus``: a directory of videos, transcripts, features and indexes that survives restarts.

Layout of a corpus directory::

    corpus.sqlite         meta (schema, generation, text encoder, window config), videos
                          (provenance: source path/URL, subtitle source, duration, content
                          hash, added_at, warnings), cues, windows (text + BM25 tokens)
    media/<id>.mp4        normalised H.264/AAC video (none for transcript-only records)
    features/<id>.npy     (T, 1280) float32 visual features (optional)
    encodings/<id>.npz    sentence units + their text encodings for the learned localizer
                          (vcval.corpus.encodings; made after each commit or on first use)
    index/dense.npz       FAISS IndexIDMap2(IndexFlatIP) over window vectors, + generation
    index/bm25_windows.npz, index/bm25_videos.npz   BM25 documents (tokens), + generation
    index/vectors/<id>.npy  (n_windows, D) float32 window embeddings: indexes are rebuilt
                          from these and the stored tokens, never by re-encoding
                          (with ``index=milvus://...`` / ``milvus-lite://...`` the search indexes live in
                          Milvus instead and only index/vectors/ stays here: vcval.corpus.backends)
    clips/<id>_<start_ms>_<end_ms>.mp4   trimmed clip cache
    .staging/             per-ingest scratch space;  .lock   inter-process write lock

Transactions: heavy work (probe, transcode, ASR, visual features, text encoding;
:mod:`vcval.ingest.prepare`) runs outside the lock into ``.staging``. The commit then takes
the lock and, in one SQLite transaction (:mod:`vcval.corpus.store`), inserts the rows and bumps
``generation``; it moves the staged files into place, updates the in-memory indexes
(:mod:`vcval.corpus.indexes`), writes every index file to a temp name and renames them, and
only then COMMITs. Any failure rolls the transaction back, deletes the moved files and
reloads the indexes from the untouched files, so the corpus is exactly as before. After a
hard crash the index files may be one generation ahead of the database or files may be
unreferenced: ``Corpus.open`` rebuilds indexes whose generation differs from the
database's (from stored vectors + tokens) and deletes orphan files.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import math
import numbers
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from vcval.corpus.backends import IndexBackend, IndexSpec, MilvusIndexes, open_backend, parse_index_url
from vcval.corpus.encodings import UnitEncodings, encode_units, encodings_key, load_encodings, save_encodings
from vcval.corpus.files import (
    FileLock,
    default_video_id,
    remove_dead_staging,
    remove_path,
    sha256_file,
    slugify,
    staging_dir,
    validate_video_id,
)
from vcval.corpus.indexes import (
    ENCODER_INDEX_DIR,
    DenseIndex,
    EncoderVectors,
    SearchIndexes,
    encoder_index_key,
    load_vectors,
    tokenize,
)
from vcval.corpus.store import SCHEMA_VERSION, Store
from vcval.errors import (
    CorpusBusyError,
    DuplicateVideoError,
    InvalidInputError,
    NotFoundError,
    StorageError,
    VCVALError,
)
from vcval.ingest.discover import TRANSCRIPT_EXTENSIONS, VIDEO_EXTENSIONS, plan_ingest
from vcval.ingest.limits import IngestLimits
from vcval.ingest.prepare import (
    NO_CUES_WARNING,
    Progress,
    StagedVideo,
    check_video,
    duplicate_error,
    encode_windows,
    prepare_transcript,
    progress_bar,
    reporter,
    stage_video,
)
from vcval.ingest.windows import Window, WindowConfig
from vcval.types import Cue, Hit, VideoRecord, canonical_order
from vcval.utils import atomic_save_npy

__all__ = ["Corpus", "NO_CUES_WARNING", "Progress", "SCHEMA_VERSION", "TRANSCRIPT_EXTENSIONS",
           "VIDEO_EXTENSIONS", "default_video_id", "sha256_file", "slugify", "validate_video_id"]

logger = logging.getLogger(__name__)

TIE_MARGIN = 16
"""Extra hits fetched from an index before the top ``k`` are cut in canonical order, so a group of
equal scores at the cut is seen whole (in any order the engine left it) more often."""

_UNIT_CACHE_SIZE = 4096  # videos whose unit encodings stay in memory
LOCK_TIMEOUT_ENV = "VCVAL_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT_S = 600.0  # how long a writer waits for another process's lock
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def default_lock_timeout() -> float:
    """``$VCVAL_LOCK_TIMEOUT`` seconds when set to a number >= 0, else 600."""
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_LOCK_TIMEOUT_S
    except ValueError:
        logger.warning("ignoring %s=%r: not a number of seconds", LOCK_TIMEOUT_ENV, raw)
        return DEFAULT_LOCK_TIMEOUT_S
    return value if math.isfinite(value) and value >= 0 else DEFAULT_LOCK_TIMEOUT_S


def check_lock_timeout(value: object) -> float:
    """A lock timeout in seconds (finite, >= 0), else InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"lock timeout must be a number of seconds >= 0, got {value!r}")
    return float(value)


def _as_path(value: object, what: str) -> Path:
    """``value`` as a Path when it is a non-empty str / PathLike, else InvalidInputError."""
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip() and "\0" not in text:
            return Path(text)  # undecodable bytes of a file name (surrogate escapes) are fine here
    raise InvalidInputError(f"{what} must be a file path (str or pathlib.Path), got {value!r}")


def _check_title(title: object) -> None:
    if title is not None and (not isinstance(title, str) or len(title) > 1000):
        raise InvalidInputError(f"title must be a string of at most 1000 characters, got {str(title)[:80]!r}")


def _check_seconds(value: object, what: str) -> float:
    """``value`` as seconds: a finite real number in [0, one week], else InvalidInputError."""
    from vcval.ingest.subtitles import MAX_MEDIA_SECONDS

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidInputError(f"{what} must be a finite number of seconds, got {value!r}")
    if not 0 <= float(value) <= MAX_MEDIA_SECONDS:
        raise InvalidInputError(f"{what} must be between 0 and {MAX_MEDIA_SECONDS:.0f} seconds, got {value!r}")
    return float(value)


def _nearly_full(root: Path) -> bool:
    """True when the corpus's file system has under 1 MB free (so a failed write was most likely that)."""
    try:
        return shutil.disk_usage(root).free < 1_000_000
    except OSError:
        return False


def _storage_error(exc: BaseException, root: Path) -> StorageError | None:
    """A StorageError for a full/read-only disk (OSError ENOSPC/EROFS, SQLite 'disk is full'), else None."""
    short_write = isinstance(exc, OSError) and exc.errno is None and " requested and " in str(exc)  # numpy
    if isinstance(exc, OSError) and (exc.errno in _DISK_FULL or short_write or _nearly_full(root)):
        return StorageError(f"no space left on the disk of corpus {root} ({exc.strerror}); the change was rolled "
                            "back and the corpus is unchanged: free some space and retry")
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return StorageError(f"cannot write to corpus {root} ({exc.strerror}: {exc.filename}); the corpus is "
                            "unchanged: use a writable corpus directory")
    if isinstance(exc, sqlite3.OperationalError):
        msg = str(exc)
        if "full" in msg:
            return StorageError(f"no space left for the database of corpus {root} ({msg}); the change was rolled "
                                "back and the corpus is unchanged: free some space and retry")
        if "readonly" in msg or "read-only" in msg:
            return StorageError(f"corpus {root} is read-only ({msg}); use a writable corpus directory")
    return None


def _clip_owner(path: Path) -> str | None:
    """The video id of a cached clip file ``<id>_<start_ms>_<end_ms>.mp4``, else None."""
    parts = path.stem.rsplit("_", 2)
    return parts[0] if len(parts) == 3 and not path.name.startswith(".") else None


class Corpus:
    """Videos and transcript-only records with their cues, features and search indexes.

    Open with :meth:`Corpus.open`. Thread-safe within a process; a lock file serialises
    writers across processes, and readers pick up other processes' commits. Queries and
    search: ``get``, ``cues``, ``windows``, ``bm25_search``, ``dense_search``, ... Before a search it
    compares the database ``generation`` with that of its indexes and reloads them when another
    process (or a rolled-back change) moved it; stale or damaged index files are rebuilt from the
    stored tokens and ``index/vectors/*.npy``, never by re-encoding intact vectors.
    """

    def __init__(self, root: Path, store: Store, *, text_encoder: Any, image_encoder: Any,
                 asr_model: Any, window: WindowConfig, lock_timeout: float | None = None,
                 remote: MilvusIndexes | None = None) -> None:
        """State only; open a corpus with :meth:`Corpus.open`."""
        self.root = root
        self.read_only = store.read_only
        self.limits = IngestLimits.from_env()
        """Size/duration/resolution caps of video ingest (:mod:`vcval.ingest.limits`); assign to change."""
        self.lock_timeout = default_lock_timeout() if lock_timeout is None else check_lock_timeout(lock_timeout)
        self._store = store
        self._text_encoder_spec = text_encoder
        self._text_encoder: Any = None if text_encoder is None or isinstance(text_encoder, (str, os.PathLike)) else text_encoder
        self._image_encoder = image_encoder
        self.asr_model = asr_model
        self.window_config = window
        self._mutex = store.mutex
        self._generation = -1
        self._remote = remote
        """The Milvus index backend, or None for the embedded default (:mod:`vcval.corpus.backends`)."""
        self._indexes: IndexBackend = SearchIndexes() if remote is None else remote
        self._lock = FileLock(root / ".lock")
        self._unit_cache: OrderedDict[str, tuple[str, UnitEncodings]] = OrderedDict()  # video id -> (key, encodings)
        self._idf: tuple[int, dict[str, float]] | None = None  # (generation, word -> idf)
        self._encoder_indexes: dict[str, tuple[tuple[str, int], DenseIndex]] = {}  # name -> ((fingerprint, gen), index)

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: str | os.PathLike = "corpus", *, text_encoder: Any = None, image_encoder: Any = None,
             asr_model: Any = None, window: WindowConfig | None = None, create: bool = True,
             read_only: bool | None = None, lock_timeout: float | None = None,
             limits: IngestLimits | None = None, index: str | IndexSpec | None = None,
             index_client: Any = None) -> Corpus:
        """Create or load the corpus in directory ``path``.

        ``text_encoder``: a TextEncoder, a name/path for ``TextEncoder.load``, or None (the
        encoder the corpus was built with; the packaged MiniLM for a new corpus).
        ``window``: None = the corpus's stored WindowConfig (default for a new corpus).
        ``create=False``: an existing corpus only (NotFoundError naming ``path``, nothing created).
        ``read_only``: open without writing anything (SQLite ``mode=ro``); None = when the directory
        or its database is not writable (a shared read-only mount). Writes then raise InvalidInputError.
        ``lock_timeout``: seconds a writer waits for another process's lock (default
        ``$VCVAL_LOCK_TIMEOUT`` or 600). ``limits``: video ingest caps (default
        ``IngestLimits.from_env()``; a public server passes ``IngestLimits.from_env(IngestLimits.public())``).
        ``index``: where the search indexes live: None / "embedded" (default, or ``$VCVAL_INDEX``),
        ``milvus://HOST:PORT[/PREFIX]`` or ``milvus-lite:///path.db`` (:mod:`vcval.corpus.backends`);
        ``index_client``: a ready ``pymilvus.MilvusClient`` for it (tests pass a fake).
        Encoders are loaded lazily, on first need.
        """
        root = _as_path(path, "the corpus path").expanduser()
        spec = parse_index_url(index) if not isinstance(index, IndexSpec) else index
        if lock_timeout is not None:
            check_lock_timeout(lock_timeout)
        db_path = root / "corpus.sqlite"
        if root.exists() and not root.is_dir():
            raise InvalidInputError(f"corpus path {root} is a file; give a directory (new or existing)")
        if root.is_dir() and not db_path.exists() and any(root.iterdir()):
            raise InvalidInputError(
                f"{root} is not a vcval corpus (no corpus.sqlite) and is not empty; "
                "give a new or empty directory for a new corpus"
            )
        if not db_path.is_file() and (not create or read_only):
            raise NotFoundError(f"no corpus at {root} (no corpus.sqlite there); check the path, or create one "
                                f"with `vcval ingest PATH --corpus {root}`")
        writable = db_path.is_file() and os.access(root, os.W_OK) and os.access(db_path, os.W_OK)
        if read_only is None:
            read_only = db_path.is_file() and not writable
        if read_only:
            store = Store.open_read_only(db_path, immutable=not writable)
        else:
            try:
                for sub in ("media", "features", "encodings", "index/vectors", "clips", ".staging"):
                    (root / sub).mkdir(parents=True, exist_ok=True)
                store = Store.open(db_path, window or WindowConfig())
            except (OSError, sqlite3.OperationalError) as exc:
                err = _storage_error(exc, root)
                if err is None:
                    raise
                raise err from exc
        stored_window = store.stored_window()
        if window is not None and window != stored_window:
            logger.warning("corpus %s was windowed with %s; new videos will use %s", root, stored_window, window)
        try:
            dim = store.meta("text_dim")
            remote = open_backend(spec, root, dim=None if dim is None else int(dim), client=index_client)
        except BaseException:
            store.close()
            raise
        corpus = cls(root, store, text_encoder=text_encoder, image_encoder=image_encoder,
                     asr_model=asr_model, window=window or stored_window, lock_timeout=lock_timeout, remote=remote)
        if limits is not None:
            corpus.limits = limits
        with corpus._mutex:
            if read_only:
                corpus._load_indexes(save_if_rebuilt=False)
            elif corpus._lock.acquire(timeout=0):
                try:
                    corpus._cleanup_orphans()
                    corpus._load_indexes(save_if_rebuilt=True, reconcile=True)
                finally:
                    corpus._lock.release()
            else:  # another process is writing: load read-only, it will tidy up
                corpus._load_indexes(save_if_rebuilt=False)
        logger.info("opened corpus %s%s: %d videos, generation %d", root, " (read-only)" if read_only else "",
                    len(corpus), corpus._generation)
        return corpus

    def close(self) -> None:
        """Close the database connection (the object is unusable afterwards)."""
        self._store.close()

    def __enter__(self) -> Corpus:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Corpus({str(self.root)!r}, videos={len(self)})"

    # ------------------------------------------------------------------ locking / housekeeping
    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        if self.read_only:
            raise InvalidInputError(f"corpus {self.root} is open read-only (its directory or database is not "
                                    "writable, or read_only=True); add or remove videos in a writable copy")
        with self._mutex:
            if not self._lock.acquire(timeout=0):
                timeout = self.lock_timeout
                logger.warning("corpus %s is locked by %s; waiting up to %.0f s for it (--lock-timeout / %s)",
                               self.root, self._lock.holder(), timeout, LOCK_TIMEOUT_ENV)
                if not self._lock.acquire(timeout=timeout):
                    raise CorpusBusyError(
                        f"corpus {self.root} is still locked by {self._lock.holder()} after {timeout:.0f} s; "
                        f"wait for that process to finish (or stop it), or wait longer with --lock-timeout "
                        f"SECONDS / {LOCK_TIMEOUT_ENV}"
                    )
            try:
                self._sync()
                yield
            finally:
                self._lock.release()

    def _check_writable(self) -> None:
        """InvalidInputError before any expensive work when the corpus is read-only."""
        if self.read_only:
            raise InvalidInputError(f"corpus {self.root} is open read-only (its directory or database is not "
                                    "writable, or read_only=True); add or remove videos in a writable copy")

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        """Turn a full / read-only disk met while staging or committing into a StorageError."""
        try:
            yield
        except (OSError, sqlite3.OperationalError) as exc:
            err = _storage_error(exc, self.root)
            if err is None:
                raise
            raise err from exc

    def _cleanup_orphans(self) -> None:
        """Delete files no database row references (left by a crash); call under the write lock."""
        ids = set(self._store.video_ids())
        referenced = self._store.file_references()
        for sub in ("media", "features"):
            for f in (self.root / sub).iterdir():
                if f"{sub}/{f.name}" not in referenced:
                    remove_path(f)
        for f in (self.root / "index" / "vectors").iterdir():
            if f.suffix != ".npy" or f.stem not in ids:
                remove_path(f)
        for f in (self.root / "index").iterdir():
            if f.is_file() and (f.name.startswith(".") or f.name.endswith(".pending")):
                remove_path(f)
        for f in (self.root / "clips").iterdir():
            if _clip_owner(f) not in ids:
                remove_path(f)
        for f in self._encodings_dir().iterdir():
            if f.suffix != ".npz" or f.stem not in ids:
                remove_path(f)
        remove_dead_staging(self.root / ".staging")  # keeps those of live processes

    # ------------------------------------------------------------------ commit / remove
    @contextlib.contextmanager
    def _atomic_change(self) -> Iterator[list[Path]]:
        """One all-or-nothing change; call under the write lock.

        The body writes rows and updates the in-memory indexes, appending every file it
        places to the yielded list. Then the generation is bumped, every index file replaced
        and the transaction committed. On any failure the transaction is rolled back, the
        placed files deleted and the indexes reloaded from the untouched index files.
        """
        placed: list[Path] = []
        gen = self._generation + 1
        try:
            with self._store.transaction():
                yield placed
                self._store.set_meta("generation", str(gen))
                self._save_indexes(gen)
        except BaseException as exc:
            for p in placed:
                p.unlink(missing_ok=True)
            self._load_indexes(save_if_rebuilt=False, reconcile=True)
            err = _storage_error(exc, self.root)
            if err is not None:
                raise err from exc
            raise
        self._generation = gen

    def _commit(self, items: list[StagedVideo]) -> list[VideoRecord]:
        """Insert prepared videos atomically (all or nothing) and update the indexes."""
        if not items:
            return []
        encoder = self._text_encoder  # set by _encode_windows whenever a batch has windows
        with self._write_lock():
            seen: set[str] = set()
            for it in items:  # under the lock: no other writer can interleave
                self._check_new(it, seen)
                seen.add(it.content_hash)
            with self._atomic_change() as placed:
                new_dense: list[tuple[np.ndarray, np.ndarray]] = []
                for it in items:
                    self._place_files(it, placed)
                    doc_tokens, window_tokens = tokenize([it.doc_text])[0], tokenize(it.window_texts)
                    pk, ids = self._store.insert(
                        it, doc_tokens=doc_tokens, window_tokens=window_tokens,
                        media_path=f"media/{it.video_id}.mp4" if it.media_src is not None else None,
                        features_path=f"features/{it.video_id}.npy" if it.features is not None else None)
                    self._indexes.add_video(pk, doc_tokens, ids, window_tokens, video_id=it.video_id)
                    if ids:
                        new_dense.append((np.array(ids, np.int64), it.vectors))
                if new_dense and self._store.count_windows() == sum(len(i) for i, _ in new_dense):
                    # the corpus's first vectors: record the encoder that made them
                    self._store.set_meta("text_encoder", encoder.name)
                    self._store.set_meta("text_dim", str(encoder.dim))
                    self._indexes.ensure_dense(int(encoder.dim))
                for ids_arr, vecs in new_dense:
                    self._indexes.add_vectors(ids_arr, vecs)
        records = [self.get(it.video_id) for it in items]
        for rec in records:
            logger.info("added %s (%s, %d cues, subtitles: %s)", rec.video_id, rec.title, rec.n_cues, rec.subtitle_source)
        self.encode_units([r.video_id for r in records if r.n_cues])  # after the commit: never blocks it
        return records

    def _check_new(self, it: StagedVideo, seen: set[str]) -> None:
        dup = self.find_by_hash(it.content_hash)
        if dup is not None or it.content_hash in seen:
            raise duplicate_error(it.source, dup or "another file of this batch", dup or it.video_id)
        if it.video_id in self:
            raise InvalidInputError(f"video id {it.video_id!r} is already used in {self.root}; "
                                    "pass another video_id or remove the existing one first")

    def _place_files(self, it: StagedVideo, placed: list[Path]) -> None:
        """Move/write a staged item's media, features and vectors into the corpus, appending each to ``placed``."""
        if it.media_src is not None:
            dst = self.root / "media" / f"{it.video_id}.mp4"
            os.replace(it.media_src, dst)
            placed.append(dst)
        if it.features is not None:
            dst = self.root / "features" / f"{it.video_id}.npy"
            atomic_save_npy(dst, np.asarray(it.features, dtype=np.float32))
            placed.append(dst)
        if it.windows:
            dst = self._vector_path(it.video_id)
            atomic_save_npy(dst, np.asarray(it.vectors, dtype=np.float32))
            placed.append(dst)

    def remove(self, video_id: str) -> VideoRecord:
        """Delete a video, its rows, files, vectors and cached clips; returns its record."""
        validate_video_id(video_id)
        with self._storage_errors(), self._write_lock():
            rec = self.get(video_id)
            with self._atomic_change():
                pk, window_ids = self._store.delete(video_id)
                self._indexes.remove_video(pk, window_ids)
            files = [self.root / p for p in (rec.media_path, rec.features_path) if p]
            files += [self._vector_path(video_id), self._encodings_dir() / f"{video_id}.npz"]
            self._unit_cache.pop(video_id, None)
            files += [f for f in (self.root / "clips").iterdir() if _clip_owner(f) == video_id]
            for f in files:
                if f.exists():
                    remove_path(f)
        logger.info("removed %s", video_id)
        return rec

    # ------------------------------------------------------------------ ingest: transcripts
    def _encode_windows(self, items: list[StagedVideo], progress: bool = False) -> None:
        """Fill ``vectors`` of every item with one batched encoder pass over all windows."""
        encode_windows(items, self.text_encoder if any(it.windows for it in items) else None, progress=progress)

    def add_transcript(self, path: str | os.PathLike, *, video_id: str | None = None, title: str | None = None,
                       duration: float | None = None, features_path: str | os.PathLike | None = None) -> VideoRecord:
        """Add a transcript-only record (no media) from a subtitle/transcript file (``.json``, .srt, .vtt).

        The default id is the file stem when it is a valid, unused id (so dataset ids such as
        YouTube ids survive), else slug + hash. ``duration`` defaults to the last cue's end;
        ``features_path`` optionally gives a (T, D) ``.npy`` of visual features.
        """
        self._check_writable()
        path = _as_path(path, "the transcript path")
        _check_title(title)
        duration = _check_seconds(duration, "duration") if duration is not None else None
        features = _as_path(features_path, "features_path") if features_path is not None else None
        item = prepare_transcript(path, self, self.window_config, video_id=video_id, title=title,
                                  duration=duration, features_path=features)
        self._encode_windows([item])
        with self._storage_errors():
            return self._commit([item])[0]

    def add_transcripts(self, paths: Iterable[str | os.PathLike], progress: bool = True) -> list[VideoRecord]:
        """Add many transcript files with one batched encoding pass and one commit (all or nothing)."""
        self._check_writable()
        if isinstance(paths, (str, os.PathLike)) or not isinstance(paths, Iterable):
            raise InvalidInputError(f"paths must be a list of transcript paths, got {paths!r}")
        return self._add_transcripts([_as_path(p, "a transcript path") for p in paths], progress=progress,
                                     collect=False)[0]

    def _add_transcripts(self, paths: Iterable[str | os.PathLike], *, progress: bool,
                         collect: bool) -> tuple[list[VideoRecord], list[tuple[Path, str]]]:
        items: list[StagedVideo] = []
        failures: list[tuple[Path, str]] = []
        taken: set[str] = set()
        hashes: set[str] = set()
        for p in progress_bar(list(paths), desc="reading transcripts", unit="file", disable=not progress):
            p = Path(p)
            try:
                it = prepare_transcript(p, self, self.window_config, taken=taken)
                if it.content_hash in hashes:
                    raise DuplicateVideoError(f"{p} has the same content as another file of this batch", it.video_id)
            except VCVALError as exc:
                if not collect:
                    raise
                logger.info("skipping %s: %s", p, exc)  # reported once, by the caller
                failures.append((p, str(exc)))
                continue
            taken.add(it.video_id)
            hashes.add(it.content_hash)
            items.append(it)
        self._encode_windows(items, progress=progress)
        with self._storage_errors():
            return self._commit(items), failures

    # ------------------------------------------------------------------ ingest: videos
    def add_video(self, path: str | os.PathLike, subtitles: str | os.PathLike | None = None, *, title: str | None = None,
                  video_id: str | None = None, visual_features: bool = True, progress: Progress | None = None) -> VideoRecord:
        """Ingest a video file: probe, normalise to H.264/AAC, get cues, features, window vectors; commit.

        Cues come from: ``subtitles`` > sidecar .srt/.vtt > embedded subtitle track > ASR (if the
        video has audio) > none (kept, with the warning "no audio and no subtitles: the video is
        searchable by title only"). ``progress(fraction, desc=...)`` is called between stages.
        """
        self._check_writable()
        video = _as_path(path, "the video path")
        subs = _as_path(subtitles, "subtitles") if subtitles is not None else None
        _check_title(title)
        if video_id is not None:
            validate_video_id(video_id)
        return self._add_video(video, subs, title=title, video_id=video_id,
                               visual_features=bool(visual_features), progress=progress)

    def _add_video(self, path: Path, subtitles: str | os.PathLike | None, *, title: str | None, video_id: str | None,
                   visual_features: bool, progress: Progress | None, source: str | None = None,
                   subtitle_source: str | None = None, info: dict[str, Any] | None = None) -> VideoRecord:
        report = reporter(progress)
        src = check_video(path, self, subtitles=subtitles, video_id=video_id, report=report, limits=self.limits)
        with self._storage_errors(), staging_dir(self.root / ".staging") as stage:
            item = stage_video(src, stage, self.window_config, subtitles=subtitles, title=title,
                               visual_features=visual_features, image_encoder=lambda: self.image_encoder,
                               asr_model=self.asr_model, source=source, subtitle_source=subtitle_source,
                               info=info, report=report, max_height=self.limits.normalize_max_height)
            report(0.8, "encoding subtitles")
            self._encode_windows([item])
            report(0.9, "saving")
            record = self._commit([item])[0]
        report(1.0, "done")
        return record

    def add_url(self, url: str, *, title: str | None = None, video_id: str | None = None,
                visual_features: bool = True, progress: Progress | None = None,
                allow_private: bool | None = None) -> VideoRecord:
        """Download ``url`` (yt-dlp, with platform captions when offered) and ingest it; source = the URL.

        Keyword arguments are those of :meth:`add_video`; the title defaults to the page's. Only
        public http(s) addresses are fetched (:mod:`vcval.ingest.netguard`); ``allow_private=True``
        (default: ``$VCVAL_ALLOW_PRIVATE_URLS``) allows loopback and private networks.
        """
        from vcval.ingest import download as dl
        from vcval.ingest.netguard import check_url

        self._check_writable()
        url = check_url(url, allow_private=True)  # the form only: the download checks every address it connects to
        _check_title(title)
        if video_id is not None:
            validate_video_id(video_id)
        with self._storage_errors(), staging_dir(self.root / ".staging") as stage:
            res = dl.download(url, stage, allow_private=allow_private, ydl_opts=self.limits.ydl_options() or None)
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
        self._check_writable()
        path = _as_path(path, "the path")
        plan = plan_ingest(path, recursive=recursive, exclude=self.root)  # never re-ingest our own files
        if plan.unsupported is not None:
            return [], [(Path(path), plan.unsupported)]
        records: list[VideoRecord] = []
        failures: list[tuple[Path, str]] = []
        if plan.transcripts:
            try:
                recs, bad = self._add_transcripts(plan.transcripts, progress=progress, collect=True)
                records += recs
                failures += bad
            except VCVALError as exc:
                failures += [(p, f"batch failed: {exc}") for p in plan.transcripts]
        for p in progress_bar(plan.videos, desc="ingesting videos", unit="video", disable=not progress):
            try:
                records.append(self.add_video(p, subtitles=plan.subtitles.get(p)))
            except VCVALError as exc:
                logger.info("skipping %s: %s", p, exc)  # reported once, by the caller
                failures.append((p, str(exc)))
        return records, failures

    # ------------------------------------------------------------------ clips
    def clip(self, video_id: str, start: float, end: float) -> Path:
        """Path of the trimmed clip [start, end] s of a video (cached in ``clips/``).

        Clips are stream-copied (``accurate=False``): normalised videos have a keyframe every
        second, so a clip starts within a second of ``start`` and is cut in milliseconds.
        """
        from vcval import media

        start, end = _check_seconds(start, "clip start"), _check_seconds(end, "clip end")
        rec = self.get(video_id)
        if rec.media_path is None:
            raise NotFoundError(f"{video_id!r} is a transcript-only record: it has no video to cut a clip from")
        end = min(end, rec.duration) if rec.duration > 0 else end
        if not end > start:
            raise InvalidInputError(f"clip end ({end:.3f} s) must be after its start ({start:.3f} s) "
                                    f"and inside the video (0-{rec.duration:.3f} s)")
        out = self._clips_dir() / f"{video_id}_{round(start * 1000)}_{round(end * 1000)}.mp4"
        if out.is_file() and out.stat().st_size > 0:
            return out
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{uuid.uuid4().hex[:12]}.mp4")
        try:
            media.trim(self.root / rec.media_path, tmp, start, end, accurate=False)
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        return out


    def _clips_dir(self) -> Path:
        """``clips/`` of the corpus; for a read-only corpus a per-corpus folder in the temp directory."""
        if not self.read_only:
            return self.root / "clips"
        tag = hashlib.sha256(str(self.root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "vcval-clips" / tag

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

    def use_text_encoder(self, encoder: Any) -> None:
        """Serve with ``encoder`` (e.g. the packaged MiniLM on the ONNX runtime) instead of loading one;
        InvalidInputError if the stored vectors were made by another encoder."""
        self.check_encoder(encoder)
        self._text_encoder = encoder

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
        if not isinstance(video_id, str):
            raise InvalidInputError(f"a video id must be a string, got {video_id!r}")
        rec = self._store.record(video_id)
        if rec is None:
            raise NotFoundError(f"no video {video_id!r} in corpus {self.root}; list the ids with "
                                f"`vcval corpus list --corpus {self.root}`")
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

    def window_vectors(self, video_id: str) -> np.ndarray:
        """(W, D) float32 vectors of the video's retrieval windows (:meth:`windows` order) by the corpus's text
        encoder: the stored ``index/vectors/<id>.npy``, re-encoded (not stored) when missing or damaged."""
        wins = self.windows(video_id)
        dim = self._store.meta("text_dim")
        if not wins:
            return np.zeros((0, int(dim) if dim is not None else int(self.text_encoder.dim)), np.float32)
        vectors = load_vectors(self._vector_path(video_id), len(wins), None if dim is None else int(dim))
        if vectors is None:
            vectors = np.asarray(self.text_encoder.encode([w.text for w in wins]), np.float32)
        return vectors

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
        """BM25 over cue windows (``"window"``) or whole transcripts + titles (``"video"``), best first
        (ties in :func:`~vcval.types.canonical_order`, the same for every index backend)."""
        if granularity not in ("window", "video"):
            raise InvalidInputError(f"granularity must be 'window' or 'video', got {granularity!r}")
        with self._mutex:
            self._sync()
            scores, ids = self._indexes.search_bm25(query, k + TIE_MARGIN, granularity)
            to_hits = self._store.window_hits if granularity == "window" else self._store.video_hits
            return canonical_order(to_hits(ids, scores))[:k]

    def dense_search(self, query_vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-``k`` windows per query vector (Q, D) by cosine similarity; one list per query (ties in
        :func:`~vcval.types.canonical_order`)."""
        with self._mutex:
            self._sync()
            scores, ids = self._indexes.search_dense(query_vectors, k + TIE_MARGIN)
            return [canonical_order(self._store.window_hits(i[i >= 0], s[i >= 0]))[:k] for s, i in zip(scores, ids)]

    def hybrid_search(self, query: str, query_vector: np.ndarray, k: int, candidates: int = 100) -> list[Hit]:
        """Top-``k`` windows by RRF (k=60) of window BM25 and dense inside the index backend (Milvus' own
        RRF ranker there; the same fusion in process for the embedded index); ``query_vector`` (D,)."""
        with self._mutex:
            self._sync()
            scores, ids = self._indexes.search_hybrid(query, query_vector, k, candidates)
            return self._store.window_hits(ids, scores)

    def encoder_search(self, encoder: Any, query_vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """Top-``k`` windows per query vector (Q, D) by inner product in the window index of ``encoder``, an
        encoder other than the corpus's own (e.g. RepBERT); one list per query.

        That index lives in ``index/encoders/<key>/`` (:class:`~vcval.corpus.indexes.EncoderVectors`), records
        which encoder built it, and is rebuilt when the encoder's weights change; it is built on first use,
        encoding only windows it has no vectors for. The corpus's own dense index is left as it is.
        """
        index = self.encoder_index(encoder)
        with self._mutex:
            scores, ids = index.search(np.asarray(query_vectors, np.float32), k)
            return [self._store.window_hits(i[i >= 0], s[i >= 0]) for s, i in zip(scores, ids)]

    def encoder_index(self, encoder: Any) -> DenseIndex:
        """The FAISS window index of ``encoder`` at the current generation (built or refreshed on demand)."""
        with self._mutex:
            self._sync()
            tag = (str(encoder.fingerprint), self._generation)
            cached = self._encoder_indexes.get(encoder.name)
            if cached is not None and cached[0] == tag:
                return cached[1]
            folder = self.root / "index" / ENCODER_INDEX_DIR / encoder_index_key(encoder.name)
            store = EncoderVectors(folder, name=encoder.name, fingerprint=tag[0], dim=int(encoder.dim),
                                   writable=not self.read_only)
            index = DenseIndex(int(encoder.dim))
            todo: list[tuple[str, np.ndarray, list[str]]] = []
            video_ids = self.video_ids()
            for video_id in video_ids:
                wins = self._store.window_documents(video_id)
                if not wins:
                    continue
                ids = np.array([w[0] for w in wins], np.int64)
                vectors = store.load(video_id, ids)
                if vectors is None:
                    todo.append((video_id, ids, [w[2] for w in wins]))
                else:
                    index.add(ids, vectors)
            if todo:
                logger.info("encoding the windows of %d videos with %s", len(todo), encoder.name)
                flat = encoder.encode([t for _, _, texts in todo for t in texts])  # (sum n, D)
                start = 0
                for video_id, ids, texts in todo:
                    vectors = flat[start:start + len(texts)]
                    start += len(texts)
                    store.save(video_id, ids, vectors)
                    index.add(ids, vectors)
            store.prune(set(video_ids))
            self._encoder_indexes[encoder.name] = (tag, index)
            return index

    # ------------------------------------------------------------------ indexes
    def _vector_path(self, video_id: str) -> Path:
        return self.root / "index" / "vectors" / f"{video_id}.npy"

    def _sync(self) -> None:
        """Reload the indexes if another process (or a rollback) changed the database."""
        if self.generation != self._generation:
            if self._remote is not None:  # the other process wrote Milvus itself
                self._generation = self.generation
                return
            self._load_indexes(save_if_rebuilt=False)

    def _load_indexes(self, *, save_if_rebuilt: bool, reconcile: bool = False) -> None:
        """Load index files; rebuild from stored vectors + tokens when stale or unreadable.

        With a Milvus backend: drop buffered changes and, when ``reconcile`` (only under the write lock),
        make Milvus hold exactly the catalog's videos.
        """
        gen = self.generation
        if self._remote is not None:
            self._remote.discard()
            if reconcile and not self.read_only:
                self._reconcile_remote(self._remote)
            self._generation = gen
            return
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
                if not self.read_only:
                    atomic_save_npy(self._vector_path(video_id), vectors)
            indexes.add_vectors(ids, vectors)
        self._indexes = indexes

    def _reconcile_remote(self, remote: MilvusIndexes) -> None:
        """Index catalog videos missing from Milvus (from stored vectors + tokens); delete Milvus rows of
        videos not in the catalog."""
        present = remote.video_ids()
        docs = self._store.video_documents()
        catalog = {pk: vid for pk, vid, _ in docs}
        extra = [pk for pk, vid in present.items() if catalog.get(pk) != vid]
        missing = [(pk, vid, toks) for pk, vid, toks in docs if present.get(pk) != vid]
        if extra:
            logger.warning("removing %d videos from the Milvus index that the catalog of %s no longer has",
                           len(extra), self.root)
            remote.delete_videos(extra)
        if not missing:
            return
        logger.warning("indexing %d catalog videos missing from the Milvus index of %s", len(missing), self.root)
        dim = self._store.meta("text_dim")
        for pk, video_id, tokens in missing:
            wins = self._store.window_documents(video_id)
            ids = np.array([w[0] for w in wins], np.int64)
            remote.add_video(pk, tokens, ids.tolist(), [w[1] for w in wins], video_id=video_id)
            if wins:
                vectors = load_vectors(self._vector_path(video_id), len(wins), None if dim is None else int(dim))
                if vectors is None:
                    logger.warning("window vectors of %s are missing or damaged: re-encoding them", video_id)
                    vectors = self.text_encoder.encode([w[2] for w in wins])
                    atomic_save_npy(self._vector_path(video_id), vectors)
                remote.add_vectors(ids, vectors)
        remote.save(self.root / "index", self.generation, int(dim or 1))

    def _save_indexes(self, generation: int) -> None:
        self._indexes.save(self.root / "index", generation, int(self._store.meta("text_dim") or 1))

    # ------------------------------------------------------------------ unit encodings (learned localizer)
    def _encodings_dir(self) -> Path:
        return self.root / "encodings"

    def unit_encodings(self, video_id: str) -> UnitEncodings:
        """The video's sentence units and their encodings (:mod:`vcval.corpus.encodings`).

        Read from ``encodings/<id>.npz`` when it matches the corpus's text encoder and the video's
        content, else computed and stored (atomically; kept in memory only on a read-only corpus).
        """
        rec = self.get(video_id)
        encoder = self.text_encoder
        key = encodings_key(encoder.name, rec.content_hash)
        hit = self._unit_cache.get(video_id)
        if hit is not None and hit[0] == key:
            self._unit_cache.move_to_end(video_id)
            return hit[1]
        path = self._encodings_dir() / f"{video_id}.npz"
        enc = load_encodings(path, key)
        if enc is None:
            enc = encode_units(self.cues(video_id), encoder)
            try:
                if not self.read_only:
                    save_encodings(path, enc, key)
            except OSError as exc:  # read-only or full disk: still answer, from memory
                logger.warning("cannot store unit encodings of %s (%s); kept in memory", video_id, exc)
        self._unit_cache[video_id] = (key, enc)
        if len(self._unit_cache) > _UNIT_CACHE_SIZE:
            self._unit_cache.popitem(last=False)
        return enc

    def word_idf(self) -> dict[str, float]:
        """IDF of content words over every sentence unit of the corpus (recomputed after a change)."""
        gen = self.generation
        if self._idf is None or self._idf[0] != gen:
            from vcval.corpus.encodings import content_words, word_idf
            from vcval.ingest.sentences import merge_into_sentences

            self._idf = (gen, word_idf(content_words(u.text) for vid in self.video_ids()
                                       for u in merge_into_sentences(self.cues(vid))))
        return self._idf[1]

    def encode_units(self, video_ids: Iterable[str] | None = None) -> int:
        """Compute and store missing unit encodings (all videos by default); returns how many videos were
        checked. Best effort: a failure is logged and the video is encoded on first use instead."""
        ids = list(self.video_ids() if video_ids is None else video_ids)
        for vid in ids:
            try:
                self.unit_encodings(vid)
            except (OSError, VCVALError) as exc:
                logger.warning("unit encodings of %s not stored now (%s); they are made on first use", vid, exc)
        return len(ids)
