#!/usr/bin/env python
"""A video list from the stored sentence units as a third reciprocal-rank term for ``hybrid`` (issue 11, an
experiment): does the video holding the best-matching sentences deserve a lift?

    .venv/bin/python scripts/unit_video_list.py [--out benchmarks/unit_video_list.md]

Every video is scored from its stored sentence-unit encodings (``Corpus.unit_encodings``: the packaged MiniLM
vectors the CueSpan localizer reads, nothing new to index) against the question's MiniLM vector: ``unit max``
(its best unit's cosine), ``unit top2`` (mean of its best two), ``unit ctx max`` (best unit by the unit's
context vector). Videos ranked by that score add ``w / (60 + rank)`` to each of their hybrid windows, as
``hybrid-video`` does with whole-transcript BM25 (:func:`vcval.retrieval.add_video_rank`, as
:class:`vcval.retrieval.VideoPriorRetriever` uses it); ``w`` = 1 is
the weight of the other two lists. ``hybrid + bm25-video`` is that method, for reference.

Sets and tables as in ``scripts/retrieval_feedback.py``: video R@1 and MRR, paired against ``hybrid``, with 95%
bootstrap intervals by question and by video.
"""
from __future__ import annotations

import argparse
import collections
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval_feedback import DEPTH, SETS, table_lines, video_rank  # noqa: E402

from vcval.evaluation import Evaluator  # noqa: E402
from vcval.evaluation.questions import load_questions  # noqa: E402
from vcval.retrieval import add_video_rank, fuse_rrf  # noqa: E402

logger = logging.getLogger("unit_video_list")


def measure(questions_path: str, transcripts: str) -> tuple[dict[str, list[int]], list[str]]:
    """Video rank of every question under every variant, and each question's video."""
    corpus = Evaluator(ROOT / transcripts, progress=False).corpus
    units = {v: corpus.unit_encodings(v) for v in corpus.video_ids()}
    units = {v: u for v, u in units.items() if len(u)}
    questions = load_questions(ROOT / questions_path)
    qvecs = np.asarray(corpus.text_encoder.encode([q.question for q in questions]), np.float32)  # (Q, D)
    ranks: dict[str, list[int]] = collections.defaultdict(list)
    for q, qv in zip(questions, qvecs):
        hybrid = fuse_rrf([corpus.bm25_search(q.question, DEPTH), corpus.dense_search(qv[None], DEPTH)[0]], DEPTH)
        ranks["hybrid"].append(video_rank(hybrid, q.video_id))
        scores = {
            "unit max": {v: float((u.vectors @ qv).max()) for v, u in units.items()},  # u.vectors: (U, D)
            "unit top2": {v: float(np.sort(u.vectors @ qv)[-2:].mean()) for v, u in units.items()},
            "unit ctx max": {v: float((u.context @ qv).max()) for v, u in units.items()},
        }
        for name, score in scores.items():
            order = sorted(score, key=lambda v: (-score[v], v))
            ranks[f"{name} alone"].append(order.index(q.video_id) + 1 if q.video_id in order else 0)
            for weight in (0.5, 1.0):
                ranks[f"hybrid + {name}, w {weight:g}"].append(
                    video_rank(add_video_rank(hybrid, order, weight), q.video_id))
        bm25_videos = list(dict.fromkeys(h.video_id for h in corpus.bm25_search(q.question, DEPTH, granularity="video")))
        ranks["hybrid + bm25-video, w 1"].append(video_rank(add_video_rank(hybrid, bm25_videos, 1.0), q.video_id))
    return ranks, [q.video_id for q in questions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "unit_video_list.md")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    lines = ["# Sentence units as a video list for hybrid retrieval", "", "`.venv/bin/python scripts/unit_video_list.py`",
             "", __doc__.split("\n\n", 2)[2].strip(), ""]
    for name, questions, transcripts in SETS:
        ranks, videos = measure(questions, transcripts)
        lines += [f"## {name}: {len(videos)} questions on {len(set(videos))} videos", "", *table_lines(ranks, videos), ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
