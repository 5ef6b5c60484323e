"""The corpus database (``corpus.sqlite``): schema, meta values, rows <-> records, transactions.

Tables: ``meta`` (schema version, ``generation`` -- bumped by every committed change --,
the window config and the text encoder that made the stored vectors), ``videos``
(provenance, warnings, BM25 document tokens), ``cues`` and ``windows`` (text + BM25 tokens;
a window's row id is its id in the search indexes). Every method is thread-safe (one
re-entrant ``mutex``, shared with the owning Corpus); writes belong inside :meth:`transaction`.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vcval.errors import VCVALError
from vcval.ingest.windows import Window, WindowConfig
from vcval.types import Cue, Hit, VideoRecord

if TYPE_CHECKING:
    from vcval.ingest.prepare import StagedVideo

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

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

_REC_COLS = ("video_id, title, duration, source, subtitle_source, content_hash, n_cues, "
             "media_path, features_path, added_at")


def utc_now() -> str:
    """Current UTC time as an ISO-8601 string (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Store:
    """Rows of one corpus database. Open with :meth:`Store.open`."""

    def __init__(self, db: sqlite3.Connection, read_only: bool = False) -> None:
        self._db = db
        self.mutex = threading.RLock()
        self.read_only = read_only

    @classmethod
    def open_read_only(cls, path: Path, *, immutable: bool) -> Store:
        """Load the database at ``path`` without writing anything (``mode=ro``; ``immutable=1`` when
        nothing can change it, e.g. a read-only mount, so SQLite needs no lock or journal files)."""
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")
        try:
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=60)
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise VCVALError(f"corpus database {path} cannot be read ({exc}); is it a vcval corpus?") from exc
        version = int(row[0]) if row else -1
        if version != SCHEMA_VERSION:
            db.close()
            raise VCVALError(f"corpus {path.parent} has schema version {version}; "
                             f"this vcval reads version {SCHEMA_VERSION}")
        return cls(db, read_only=True)

    @classmethod
    def open(cls, path: Path, window: WindowConfig) -> Store:
        """Create or load the database at ``path``; ``window`` is stored if it has none yet.

        Raises VCVALError when the file has another schema version.
        """
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
        db.execute("PRAGMA foreign_keys = ON")
        db.executescript(_SCHEMA)
        defaults = {"schema_version": str(SCHEMA_VERSION), "generation": "0",
                    "window": json.dumps(window.to_dict()), "created_at": utc_now()}
        for key, value in defaults.items():
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
        version = int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0])
        if version != SCHEMA_VERSION:
            db.close()
            raise VCVALError(f"corpus {path.parent} has schema version {version}; "
                             f"this vcval reads version {SCHEMA_VERSION}")
        return cls(db)

    def close(self) -> None:
        """Close the connection (the store is unusable afterwards)."""
        with self.mutex:
            self._db.close()

    def _all(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        with self.mutex:
            return self._db.execute(sql, args).fetchall()

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple | None:
        with self.mutex:
            return self._db.execute(sql, args).fetchone()

    # ------------------------------------------------------------------ meta
    def meta(self, key: str) -> str | None:
        """A meta value, or None when unset."""
        row = self._one("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value (inside a transaction)."""
        with self.mutex:
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def generation(self) -> int:
        """Counter bumped by every committed change."""
        return int(self.meta("generation") or 0)

    def stored_window(self) -> WindowConfig:
        """The WindowConfig the corpus was created with."""
        return WindowConfig.from_dict(json.loads(self.meta("window") or "{}"))

    # ------------------------------------------------------------------ records
    def count_videos(self) -> int:
        """Number of records."""
        return int(self._one("SELECT COUNT(*) FROM videos")[0])

    def count_windows(self) -> int:
        """Number of windows over all records."""
        return int(self._one("SELECT COUNT(*) FROM windows")[0])

    def has_windows(self) -> bool:
        """True when any record has a window (so stored vectors exist)."""
        return self._one("SELECT 1 FROM windows LIMIT 1") is not None

    def video_ids(self) -> list[str]:
        """All ids, in insertion order."""
        return [r[0] for r in self._all("SELECT video_id FROM videos ORDER BY pk")]

    def records(self) -> list[VideoRecord]:
        """All records, in insertion order."""
        return [VideoRecord(*r) for r in self._all(f"SELECT {_REC_COLS} FROM videos ORDER BY pk")]

    def record(self, video_id: str) -> VideoRecord | None:
        """The record of ``video_id``, or None."""
        row = self._one(f"SELECT {_REC_COLS} FROM videos WHERE video_id=?", (video_id,))
        return None if row is None else VideoRecord(*row)

    def contains(self, video_id: str) -> bool:
        """True when a record has this id."""
        return self._one("SELECT 1 FROM videos WHERE video_id=?", (video_id,)) is not None

    def find_by_hash(self, content_hash: str) -> str | None:
        """Id of the record whose content has this sha256, if any."""
        row = self._one("SELECT video_id FROM videos WHERE content_hash=?", (content_hash,))
        return None if row is None else row[0]

    def cues(self, video_id: str) -> list[Cue]:
        """The cues of a record, in order."""
        return [Cue(*r) for r in self._all("SELECT idx, start, end, text FROM cues WHERE video_id=? ORDER BY idx",
                                           (video_id,))]

    def windows(self, video_id: str) -> list[Window]:
        """The windows of a record, in order."""
        return [Window(*r) for r in self._all("SELECT first_cue, last_cue, start, end, text FROM windows "
                                              "WHERE video_id=? ORDER BY ordinal", (video_id,))]

    def warnings(self, video_id: str) -> list[str]:
        """Warnings stored with a record."""
        return list(json.loads(self._one("SELECT warnings FROM videos WHERE video_id=?", (video_id,))[0]))

    def info(self, video_id: str) -> dict[str, Any]:
        """``source_kind`` and the extra provenance stored with a record."""
        row = self._one("SELECT source_kind, info FROM videos WHERE video_id=?", (video_id,))
        return {"source_kind": row[0], **json.loads(row[1])}

    def file_references(self) -> set[str]:
        """Every media/features path (relative to the corpus) a record refers to."""
        return {p for r in self._all("SELECT media_path, features_path FROM videos") for p in r if p}

    # ------------------------------------------------------------------ index documents and hits
    def video_documents(self) -> list[tuple[int, str, list[str]]]:
        """(pk, video_id, BM25 tokens of title + transcript) of every record, in insertion order."""
        return [(r[0], r[1], r[2].split()) for r in self._all("SELECT pk, video_id, doc_tokens FROM videos ORDER BY pk")]

    def window_documents(self, video_id: str) -> list[tuple[int, list[str], str]]:
        """(window id, BM25 tokens, text) of a record's windows, in order."""
        return [(r[0], r[1].split(), r[2]) for r in
                self._all("SELECT id, tokens, text FROM windows WHERE video_id=? ORDER BY ordinal", (video_id,))]

    def _rows_by_key(self, table: str, key: str, cols: str, keys: np.ndarray) -> dict[int, tuple]:
        if len(keys) == 0:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._all(f"SELECT {key}, {cols} FROM {table} WHERE {key} IN ({marks})", [int(i) for i in keys])
        return {r[0]: r[1:] for r in rows}

    def window_hits(self, ids: np.ndarray, scores: np.ndarray) -> list[Hit]:
        """Hits for window ids (n,) with scores (n,), in that order; unknown ids are dropped."""
        rows = self._rows_by_key("windows", "id", "video_id, first_cue, last_cue, start, end", ids)
        return [Hit(rows[i][0], float(s), *rows[i][1:]) for i, s in zip(ids.tolist(), scores.tolist()) if i in rows]

    def video_hits(self, pks: np.ndarray, scores: np.ndarray) -> list[Hit]:
        """Whole-video hits for video pks (n,) with scores (n,); last_cue is -1 for a video without cues."""
        rows = self._rows_by_key("videos", "pk", "video_id, n_cues, duration", pks)
        return [Hit(rows[i][0], float(s), 0, rows[i][1] - 1, 0.0, float(rows[i][2]))
                for i, s in zip(pks.tolist(), scores.tolist()) if i in rows]

    # ------------------------------------------------------------------ writes
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the body (or the commit) fails."""
        with self.mutex:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error as exc:  # pragma: no cover
                    logger.error("rollback failed: %s", exc)
                raise

    def insert(self, item: StagedVideo, *, doc_tokens: list[str], window_tokens: list[list[str]],
               media_path: str | None, features_path: str | None) -> tuple[int, list[int]]:
        """Insert one prepared video's rows; returns (video pk, window ids in window order)."""
        with self.mutex:
            db = self._db
            pk = db.execute(
                "INSERT INTO videos(video_id, title, duration, source, source_kind, subtitle_source, "
                "content_hash, n_cues, media_path, features_path, added_at, warnings, info, doc_tokens) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (item.video_id, item.title, item.duration, item.source, item.source_kind, item.subtitle_source,
                 item.content_hash, len(item.cues), media_path, features_path, utc_now(),
                 json.dumps(item.warnings), json.dumps(item.info, default=str), " ".join(doc_tokens))).lastrowid
            db.executemany("INSERT INTO cues(video_id, idx, start, end, text) VALUES (?,?,?,?,?)",
                           [(item.video_id, i, c.start, c.end, c.text) for i, c in enumerate(item.cues)])
            ids = [db.execute("INSERT INTO windows(video_id, ordinal, first_cue, last_cue, start, end, text, tokens) "
                              "VALUES (?,?,?,?,?,?,?,?)",
                              (item.video_id, o, w.first_cue, w.last_cue, w.start, w.end, w.text, " ".join(t))).lastrowid
                   for o, (w, t) in enumerate(zip(item.windows, window_tokens))]
        return int(pk), ids

    def delete(self, video_id: str) -> tuple[int, list[int]]:
        """Delete a record's rows; returns (its video pk, its window ids)."""
        with self.mutex:
            db = self._db
            pk = db.execute("SELECT pk FROM videos WHERE video_id=?", (video_id,)).fetchone()[0]
            ids = [r[0] for r in db.execute("SELECT id FROM windows WHERE video_id=?", (video_id,))]
            for table in ("windows", "cues", "videos"):
                db.execute(f"DELETE FROM {table} WHERE video_id=?", (video_id,))
        return pk, ids
