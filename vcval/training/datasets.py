"""Training data for CCGS: transcripts, labelled questions, and negatives mined per question.

Files (written by scripts/convert_*.py): a transcripts folder of ``<video_id>.json`` lists of
``{start, duration, text}`` and question files (JSON list) of records with ``question``,
``video_id``, ``answer_start_second``, ``answer_end_second`` (+ optional ``sample_id``).
"""
from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from vcval.errors import NotFoundError, SubtitleError
from vcval.evaluation.questions import Question
from vcval.retrieval import TranscriptBM25
from vcval.types import Cue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainItem:
    """A question with its positive video first, then M negative videos."""

    question: str
    video_ids: tuple[str, ...]
    start: float
    end: float
    crops: tuple[float, ...] = ()  # per negative, where a cropped excerpt starts (fraction of its cues)
    pos_crop: float = 0.0  # where the positive's excerpt starts among the placements that keep the answer


def read_transcript(path: str | Path) -> list[Cue]:
    """Cues of a ``[{start, duration, text}]`` JSON transcript (empty texts kept, times as given)."""
    path = Path(path)
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
        cues = [
            Cue(k, float(x["start"]), float(x["start"]) + max(0.0, float(x.get("duration", 0.0))), str(x.get("text", "")))
            for k, x in enumerate(items)
        ]
    except (ValueError, KeyError, TypeError) as e:
        raise SubtitleError(f"{path} is not a [{{start, duration, text}}] transcript: {e}") from e
    return cues


def load_transcripts(folder: str | Path, video_ids: Iterable[str] | None = None) -> dict[str, list[Cue]]:
    """{video_id: cues} for every ``*.json`` in ``folder`` (or only ``video_ids``); videos without cues are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotFoundError(f"transcripts folder {folder} does not exist; run scripts/convert_*.py first")
    wanted = set(video_ids) if video_ids is not None else None
    out: dict[str, list[Cue]] = {}
    for p in sorted(folder.glob("*.json")):
        if wanted is not None and p.stem not in wanted:
            continue
        cues = read_transcript(p)
        if cues:
            out[p.stem] = cues
        else:
            logger.warning("transcript %s has no cues; skipped", p)
    return out


class CCGSTrainDataset(Dataset):
    """Questions with negatives: ``n_hard`` from the BM25 top ``hard_pool`` of the training videos
    (the positive excluded) plus ``n_random`` others. Sampling is a pure function of
    (seed, epoch, index), so runs are reproducible and resumable."""

    def __init__(
        self,
        examples: Sequence[Question],
        transcripts: dict[str, list[Cue]],
        *,
        n_hard: int = 2,
        n_random: int = 1,
        hard_pool: int = 8,
        seed: int = 0,
    ) -> None:
        self.examples = [e for e in examples if e.video_id in transcripts]
        dropped = len(examples) - len(self.examples)
        if dropped:
            logger.warning("%d questions point to videos without a transcript; left out", dropped)
        self.video_ids = sorted(transcripts)
        self.n_hard, self.n_random, self.seed, self.epoch = n_hard, n_random, seed, 0
        self.hard: list[list[str]] = [[] for _ in self.examples]
        if n_hard > 0 and len(self.video_ids) > 1:
            bm25 = TranscriptBM25(transcripts)
            results = bm25.search([e.question for e in self.examples], hard_pool + 1)
            self.hard = [[v for v, _ in res if v != e.video_id][:hard_pool] for e, res in zip(self.examples, results)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, i: int) -> TrainItem:
        ex = self.examples[i]
        rng = random.Random(hash((self.seed, self.epoch, i)) & 0xFFFFFFFF)
        hard = rng.sample(self.hard[i], min(self.n_hard, len(self.hard[i])))
        others = [v for v in self.video_ids if v != ex.video_id and v not in hard]
        rand = rng.sample(others, min(self.n_random, len(others)))
        negs = (*hard, *rand)
        crops = tuple(rng.random() for _ in negs)
        return TrainItem(ex.question, (ex.video_id, *negs), ex.start, ex.end, crops, rng.random())


def split_examples(examples: Sequence[Question], n: int, seed: int = 0) -> list[Question]:
    """A deterministic random subset of ``n`` examples (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(examples):
        return list(examples)
    idx = np.random.default_rng(seed).choice(len(examples), size=n, replace=False)
    return [examples[int(k)] for k in sorted(idx)]
