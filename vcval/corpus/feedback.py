"""Answer feedback (thumbs up/down, optionally the right span) stored in the corpus database.

One table, ``feedback``, created on the first vote (a corpus nobody voted on has none), in
the corpus's own ``corpus.sqlite`` through a separate connection, so the catalog's schema
(:mod:`vcval.corpus.store`) is untouched. :func:`export_questions` turns the votes into a
question set in the MedVidQA format that ``vcval eval`` and training read
(:mod:`vcval.evaluation.questions`): a thumbs-up keeps the answer's span, a thumbs-down with
a corrected span gives that span, a thumbs-down without one is no label and is skipped.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vcval.errors import InvalidInputError, NotFoundError, VCVALError

DB_NAME = "corpus.sqlite"
MAX_QUESTION_CHARS = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    question TEXT NOT NULL,
    video_id TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    confidence REAL,
    right_start REAL,
    right_end REAL
)
"""
_COLS = "id, created_at, question, video_id, start, end, rating, confidence, right_start, right_end"


@dataclass(frozen=True)
class Feedback:
    """One vote on one answer (``rating`` +1 or -1); ``right_*`` is the span the voter gave, if any."""

    id: int
    created_at: str
    question: str
    video_id: str
    start: float
    end: float
    rating: int
    confidence: float | None = None
    right_start: float | None = None
    right_end: float | None = None

    def label(self) -> tuple[float, float] | None:
        """The labelled answer span this vote gives, or None (a thumbs-down without a span)."""
        if self.right_start is not None and self.right_end is not None:
            return self.right_start, self.right_end
        return (self.start, self.end) if self.rating > 0 else None


def _time(name: str, value: Any) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(t) or t < 0 or t > 7 * 24 * 3600:
        raise InvalidInputError(f"{name} must be between 0 and a week in seconds, got {value!r}")
    return t


class FeedbackStore:
    """Votes of one corpus directory (``root/corpus.sqlite``). Thread-safe."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / DB_NAME
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise VCVALError(f"{self.path.parent} is not a vcval corpus (no {DB_NAME})")
        return sqlite3.connect(self.path, timeout=30)

    def record(self, question: str, video_id: str, start: float, end: float, rating: int, *,
               confidence: float | None = None, right_start: float | None = None,
               right_end: float | None = None) -> Feedback:
        """Store one vote and return it. Raises InvalidInputError for a bad value, VCVALError when unwritable."""
        question = (question or "").strip() if isinstance(question, str) else ""
        if not question:
            raise InvalidInputError("feedback needs the question that was asked")
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidInputError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
        if not isinstance(video_id, str) or not video_id:
            raise InvalidInputError("feedback needs the answer's video id")
        if rating not in (1, -1):
            raise InvalidInputError(f"rating must be 1 (thumbs up) or -1 (thumbs down), got {rating!r}")
        s, e = _time("start", start), _time("end", end)
        if (right_start is None) != (right_end is None):
            raise InvalidInputError("give both ends of the right span, or neither")
        rs = re_ = None
        if right_start is not None:
            rs, re_ = _time("right start", right_start), _time("right end", right_end)
            if re_ <= rs:
                raise InvalidInputError(f"the right span must end after it starts ({rs:.1f} s - {re_:.1f} s)")
        conf = None if confidence is None or not math.isfinite(float(confidence)) else float(confidence)
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            try:
                db = self._connect()
                try:
                    with db:
                        db.execute(_SCHEMA)
                        cur = db.execute(
                            "INSERT INTO feedback (created_at, question, video_id, start, end, rating, confidence, "
                            "right_start, right_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (now, question, video_id, s, e, int(rating), conf, rs, re_))
                        row_id = int(cur.lastrowid or 0)
                finally:
                    db.close()
            except sqlite3.Error as err:  # read-only mount, disk full, locked for too long
                raise VCVALError(f"feedback could not be stored ({err})") from err
        return Feedback(row_id, now, question, video_id, s, e, int(rating), conf, rs, re_)

    def all(self) -> list[Feedback]:
        """Every vote, oldest first (empty when nobody voted)."""
        if not self.path.is_file():
            return []
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='feedback'").fetchone() is None:
                return []
            rows = db.execute(f"SELECT {_COLS} FROM feedback ORDER BY id").fetchall()
        except sqlite3.Error as err:
            raise VCVALError(f"feedback could not be read ({err})") from err
        finally:
            db.close()
        return [Feedback(*r) for r in rows]


def to_questions(votes: list[Feedback], durations: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """MedVidQA-format records from ``votes``: one per (question, video), the latest labelling vote wins.

    ``durations`` (video id -> seconds) fills ``video_length`` when known.
    """
    latest: dict[tuple[str, str], Feedback] = {}
    for v in votes:
        if v.label() is not None:
            latest[(v.question, v.video_id)] = v
        elif latest.get((v.question, v.video_id)) is not None:
            old = latest[(v.question, v.video_id)]
            if old.right_start is None and (old.start, old.end) == (v.start, v.end):
                del latest[(v.question, v.video_id)]  # a later thumbs-down on the same span withdraws it
    out = []
    for v in sorted(latest.values(), key=lambda f: f.id):
        span = v.label()
        assert span is not None
        rec: dict[str, Any] = {"sample_id": f"feedback-{v.id}", "question": v.question, "video_id": v.video_id,
                               "answer_start_second": round(span[0], 3), "answer_end_second": round(span[1], 3)}
        if durations and v.video_id in durations:
            rec["video_length"] = round(float(durations[v.video_id]), 3)
        out.append(rec)
    return out


def video_durations(root: str | Path) -> dict[str, float]:
    """Video id -> duration (s) from the corpus catalog, read-only."""
    path = Path(root) / DB_NAME
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return {str(v): float(d) for v, d in db.execute("SELECT video_id, duration FROM videos")}
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def export_questions(root: str | Path, out: str | Path, durations: dict[str, float] | None = None) -> tuple[int, int]:
    """Write the corpus's votes as a MedVidQA questions file; returns (questions written, votes read).

    ``durations`` defaults to the catalog's. Raises NotFoundError when ``root`` is not a corpus and
    InvalidInputError when no vote gives a labelled span (an empty file is not a question set).
    """
    if not (Path(root) / DB_NAME).is_file():
        raise NotFoundError(f"{root} is not a vcval corpus (no {DB_NAME})")
    votes = FeedbackStore(root).all()
    if durations is None:
        durations = video_durations(root)
    rows = to_questions(votes, durations)
    if not rows:
        raise InvalidInputError(f"no usable feedback in {root}: {len(votes)} vote(s), none a thumbs-up or a "
                                "corrected span")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return len(rows), len(votes)


# --------------------------------------------------------------------------- command line
def add_feedback_arguments(parser: Any) -> None:
    """``vcval feedback export --corpus DIR --out FILE``."""
    sub = parser.add_subparsers(dest="feedback_cmd", required=True)
    p = sub.add_parser("export", help="write the answer votes as a MedVidQA question set (for vcval eval / training)")
    p.add_argument("--corpus", default="corpus", help="corpus directory (default: ./corpus)")
    p.add_argument("--out", required=True, help="questions file to write (JSON)")


def run_feedback_command(args: Any) -> int:
    """Run ``vcval feedback export``; prints what was written."""
    n, votes = export_questions(args.corpus, args.out)
    print(f"wrote {n} question(s) from {votes} vote(s) to {args.out}")
    return 0
