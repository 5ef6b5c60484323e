"""Labelled questions: the one question type and the one loader (evaluation and training).

A questions file is a JSON list of MedVidQA-format records with at least ``question``,
``video_id``, ``answer_start_second`` and ``answer_end_second`` (``video_length`` and
``sample_id`` optional; extra fields ignored), as written by ``scripts/convert_*.py``.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from vcval.errors import InvalidInputError, NotFoundError
from vcval.evaluation.metrics import Gold

REQUIRED_FIELDS = ("question", "video_id", "answer_start_second", "answer_end_second")


@dataclass(frozen=True)
class Question:
    """One labelled question: the answer is [start, end] seconds of ``video_id``."""

    question: str
    video_id: str
    start: float
    end: float
    video_length: float | None = None
    sample_id: Any = None

    @property
    def gold(self) -> Gold:
        """The answer as the metrics read it."""
        return Gold(self.video_id, self.start, self.end, self.video_length)


def load_questions(path: str | Path) -> list[Question]:
    """Read and validate a questions file (see module doc); ``sample_id`` defaults to the row index.

    Raises NotFoundError for a missing file and InvalidInputError naming the record for bad rows.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"questions file {path} does not exist (make one with scripts/convert_*.py)")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{path} is not valid JSON ({err}); expected a list of question records") from err
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError(f"{path}: expected a non-empty JSON list of question records")
    return [_question(r, i, path) for i, r in enumerate(rows)]


def _question(r: Any, i: int, path: Path) -> Question:
    if not isinstance(r, dict):
        raise InvalidInputError(f"{path}: record {i} is not an object")
    missing = [k for k in REQUIRED_FIELDS if r.get(k) in (None, "")]
    if missing:
        raise InvalidInputError(f"{path}: record {i} lacks {', '.join(missing)} (required: {', '.join(REQUIRED_FIELDS)})")
    try:
        start, end = float(r["answer_start_second"]), float(r["answer_end_second"])
        length = float(r["video_length"]) if r.get("video_length") not in (None, "") else None
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"{path}: record {i} has a non-numeric time ({err})") from err
    if end < start or start < 0:
        raise InvalidInputError(f"{path}: record {i} has answer span [{start}, {end}]; need 0 <= start <= end")
    return Question(str(r["question"]).strip(), str(r["video_id"]), start, end, length, r.get("sample_id", i))


T = TypeVar("T")


def seeded_sample(items: Sequence[T], n: int | None, seed: int) -> list[T]:
    """``n`` items drawn with ``random.Random(seed)``, kept in input order (all when n is None or >= len):
    the selection of ``vcval eval --sample n --seed seed``, shared by every script that samples questions."""
    items = list(items)
    if n is None or n >= len(items):
        return items
    keep = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in keep]
