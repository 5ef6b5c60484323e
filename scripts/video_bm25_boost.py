#!/usr/bin/env python
"""Does whole-transcript BM25 help the hybrid window retriever rank videos? (issue 11, measured 2026-12-04)

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/video_bm25_boost.py [--weights 0 0.5 1 2 4]

Each hybrid window (RRF of window BM25 and MiniLM) gets ``w / (60 + its video's rank under bm25-video)``
added (:class:`vcval.retrieval.VideoPriorRetriever`; ``--method hybrid-video`` is ``w`` = 1); ``w`` 0 is the
hybrid alone. Videos are ranked by their first window.
Prints video R@1 / MRR per weight on TutorialVQA by-video dev (all questions: where a weight would be
chosen), the TutorialVQA test sample (seed 0, 300), MedVidQA (29 videos) and the demo questions.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation import Evaluator  # noqa: E402
from vcval.evaluation.questions import load_questions, seeded_sample  # noqa: E402
from vcval.retrieval import VideoPriorRetriever, make_retriever  # noqa: E402

logger = logging.getLogger("video_bm25_boost")

SETS = [("TutorialVQA dev (by video)", "data/tutorialvqa/dev.json", "data/tutorialvqa/transcripts", 0),
        ("TutorialVQA test (300, seed 0)", "data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", 300),
        ("MedVidQA (29 videos)", "data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts", 0),
        ("demo", "data/demo/questions.json", "data/demo/transcripts", 0)]


def video_ranks(questions: list, corpus: object, weights: list[float]) -> dict[float, list[float]]:
    """The gold video's rank (inf when not among the top 100 windows' videos) per question, per weight."""
    hybrid = make_retriever(corpus, "hybrid", encoder=corpus.text_encoder)  # type: ignore[attr-defined]
    by_video = make_retriever(corpus, "bm25-video")
    out: dict[float, list[float]] = {w: [] for w in weights}
    for w in weights:
        retriever = VideoPriorRetriever(hybrid, by_video, weight=w)
        for q in questions:
            ranked = list(dict.fromkeys(h.video_id for h in retriever.search(q.question, 100)))
            out[w].append(ranked.index(q.video_id) + 1 if q.video_id in ranked else float("inf"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.5, 1.0, 2.0, 4.0])
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    lines = ["| set | N | w | video R@1 | MRR |", "|---|---|---|---|---|"]
    for title, qpath, tpath, sample in SETS:
        questions = load_questions(ROOT / qpath)
        if sample:
            questions = seeded_sample(questions, sample, 0)
        corpus = Evaluator(ROOT / tpath, progress=False).corpus
        ranks = video_ranks(questions, corpus, args.weights)
        n = len(questions)
        for w in args.weights:
            r = ranks[w]
            lines.append(f"| {title} | {n} | {w:g} | {100 * sum(x <= 1 for x in r) / n:.1f} | "
                         f"{100 * sum(1 / x for x in r) / n:.1f} |")
            logger.info("%s", lines[-1])
    print("\n".join(lines))


if __name__ == "__main__":
    main()
