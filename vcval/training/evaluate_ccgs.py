"""Corpus-level evaluation of a CCGS model during training and for ablations.

Retrieval is whole-transcript BM25 over the evaluation videos (top ``k_videos``); the model
scores every span of those videos and ranks (video, span) pairs globally. Metrics are the 16
of :func:`vcval.evaluation.metrics.compute_all`. Span scores are computed once per question, so the
retrieval-fusion weight can be swept for free (tune it on development data only).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

from vcval.evaluation.metrics import Gold, compute_all
from vcval.localization.base import Candidate
from vcval.localization.ccgs import CCGSLocalizer
from vcval.training.datasets import QAExample, VideoBM25
from vcval.types import Cue, VideoRecord


@dataclass
class CorpusEval:
    """metrics[weight] -> the 16 metrics; seconds_per_question of the model pass (retrieval included)."""

    metrics: dict[float, dict[str, float]]
    seconds_per_question: float
    n_questions: int


def make_candidates(
    transcripts: dict[str, list[Cue]], hits: Sequence[tuple[str, float]], titles: dict[str, str] | None = None
) -> list[Candidate]:
    """Candidates (text-only) for retrieved (video_id, score) pairs."""
    out = []
    for vid, score in hits:
        cues = transcripts[vid]
        rec = VideoRecord(
            video_id=vid, title=(titles or {}).get(vid, vid), duration=float(cues[-1].end) if cues else 0.0,
            source="transcript", subtitle_source="transcript", content_hash=vid, n_cues=len(cues),
        )
        out.append(Candidate(rec, list(cues), None, float(score), []))
    return out


def evaluate_corpus(
    localizer: CCGSLocalizer,
    questions: Sequence[QAExample],
    transcripts: dict[str, list[Cue]],
    *,
    k_videos: int = 5,
    top_n: int = 100,
    weights: Sequence[float] = (0.0,),
    progress: Callable[[int, int], None] | None = None,
) -> CorpusEval:
    """Ask every question against the corpus ``transcripts``; metrics per retrieval-fusion weight."""
    bm25 = VideoBM25(transcripts)
    hits = bm25.search([q.question for q in questions], k_videos)
    preds: dict[float, list] = {w: [] for w in weights}
    gold = []
    t0 = time.perf_counter()
    for n, (q, h) in enumerate(zip(questions, hits)):
        cands = make_candidates(transcripts, h)
        spans = localizer.score_videos(q.question, cands)
        for w in weights:
            preds[w].append(localizer.rank(cands, spans, top_n, retrieval_weight=w))
        gold.append(Gold(q.video_id, q.start, q.end, q.video_length))
        if progress is not None:
            progress(n + 1, len(questions))
    elapsed = time.perf_counter() - t0
    return CorpusEval({w: compute_all(preds[w], gold) for w in weights}, elapsed / max(1, len(questions)), len(questions))
