#!/usr/bin/env python
"""Pseudo-relevance feedback for video retrieval (issue 11, an experiment): does expanding the question with
what its own top windows say rank the right video higher?

    .venv/bin/python scripts/retrieval_feedback.py [--out benchmarks/retrieval_feedback.md]

Variants, each fused with the other half of ``hybrid`` by the same RRF (k = 60) and ranked by
:func:`vcval.retrieval.rank_videos`:
- ``dense Rocchio m, beta``: the question vector plus ``beta`` times the mean MiniLM vector of the top ``m``
  hybrid windows, renormalised, searched again (Rocchio feedback on the dense half).
- ``BM25 RM3 t``: the question plus the ``t`` words of the top 10 hybrid windows with the largest summed IDF
  (:func:`vcval.corpus.encodings.word_idf` over the windows' BM25 tokens; words already in the question skipped), searched again by window BM25 (an RM3-style expansion without term
  weights, which the BM25 index does not take).
- both expansions together.

Sets: all 941 TutorialVQA by-video dev questions (where a choice would be made) and MedVidQA with transcripts
(29 videos, never trained or tuned on; reported, not used to choose). Every difference is paired against
``hybrid`` on the same questions: mean and two 95% bootstrap intervals (2,000 resamples), one resampling
questions and one resampling whole videos (the dev questions are on 8 videos: read the second).
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

from vcval.corpus.encodings import word_idf  # noqa: E402
from vcval.corpus.indexes import tokenize  # noqa: E402
from vcval.evaluation import Evaluator  # noqa: E402
from vcval.evaluation.metrics import paired_bootstrap  # noqa: E402
from vcval.evaluation.questions import load_questions  # noqa: E402
from vcval.retrieval import fuse_rrf, rank_videos  # noqa: E402
from vcval.types import Hit  # noqa: E402

logger = logging.getLogger("retrieval_feedback")

SETS = [
    ("TutorialVQA by-video dev (all 941 questions)", "data/tutorialvqa/dev.json", "data/tutorialvqa/transcripts"),
    ("MedVidQA (29 videos, never trained or tuned on)", "data/medvidqa/questions_with_transcripts.json",
     "data/medvidqa/transcripts"),
]
DEPTH = 100
ROCCHIO = [(5, 0.5), (10, 0.5), (10, 1.0)]
RM3_TERMS = [5, 10]


class WindowTable:
    """Each window's MiniLM vector and text by (video, first cue, last cue), and word IDF over windows."""

    def __init__(self, corpus) -> None:
        self.rows: dict[str, dict[tuple[int, int], int]] = {}
        self.vectors: dict[str, np.ndarray] = {}
        self.texts: dict[str, list[str]] = {}
        for v in corpus.video_ids():
            wins = corpus.windows(v)
            self.rows[v] = {(w.first_cue, w.last_cue): i for i, w in enumerate(wins)}
            self.vectors[v] = corpus.window_vectors(v)  # (W, D)
            self.texts[v] = [w.text for w in wins]
        # BM25's own tokens (the expansion is searched by BM25), weighed by the project's one IDF formula
        self.idf = word_idf(frozenset(words) for texts in self.texts.values() for words in tokenize(texts))

    def vector(self, h: Hit) -> np.ndarray:
        return self.vectors[h.video_id][self.rows[h.video_id][(h.first_cue, h.last_cue)]]  # (D,)

    def text(self, h: Hit) -> str:
        return self.texts[h.video_id][self.rows[h.video_id][(h.first_cue, h.last_cue)]]


def video_rank(hits: list[Hit], gold: str) -> int:
    """1-based rank of ``gold`` among the videos of ``hits`` (0 when absent)."""
    videos = [v for v, _, _ in rank_videos(hits, DEPTH)]
    return videos.index(gold) + 1 if gold in videos else 0


def expansion_words(question: str, hits: list[Hit], table: WindowTable, t: int) -> list[str]:
    """The ``t`` words of the windows ``hits`` with the largest summed IDF, question words excluded."""
    asked = set(tokenize([question])[0])
    mass: collections.Counter[str] = collections.Counter()
    for h in hits:
        for w in tokenize([table.text(h)])[0]:
            if w not in asked:
                mass[w] += table.idf.get(w, 0.0)
    return [w for w, _ in mass.most_common(t)]


def measure(questions_path: str, transcripts: str) -> tuple[dict[str, list[int]], list[str]]:
    """Video rank of every question under every variant, and each question's video."""
    corpus = Evaluator(ROOT / transcripts, progress=False).corpus
    table = WindowTable(corpus)
    questions = load_questions(ROOT / questions_path)
    qvecs = np.asarray(corpus.text_encoder.encode([q.question for q in questions]), np.float32)  # (Q, D)
    ranks: dict[str, list[int]] = collections.defaultdict(list)
    for q, qv in zip(questions, qvecs):
        bm25 = corpus.bm25_search(q.question, DEPTH)
        dense = corpus.dense_search(qv[None], DEPTH)[0]
        hybrid = fuse_rrf([bm25, dense], DEPTH)
        ranks["hybrid"].append(video_rank(hybrid, q.video_id))
        rocchio = {}
        for m, beta in ROCCHIO:
            v = qv + beta * np.mean([table.vector(h) for h in hybrid[:m]], 0)  # (D,)
            rocchio[m, beta] = corpus.dense_search((v / np.linalg.norm(v))[None].astype(np.float32), DEPTH)[0]
            ranks[f"dense Rocchio m={m}, beta={beta}"].append(video_rank(fuse_rrf([bm25, rocchio[m, beta]], DEPTH),
                                                                         q.video_id))
        for t in RM3_TERMS:
            expanded = q.question + " " + " ".join(expansion_words(q.question, hybrid[:10], table, t))
            bm25_x = corpus.bm25_search(expanded, DEPTH)
            ranks[f"BM25 RM3 t={t}"].append(video_rank(fuse_rrf([bm25_x, dense], DEPTH), q.video_id))
            ranks[f"BM25 RM3 t={t} + dense Rocchio m=10, beta=0.5"].append(
                video_rank(fuse_rrf([bm25_x, rocchio[10, 0.5]], DEPTH), q.video_id))
    return ranks, [q.video_id for q in questions]


def table_lines(ranks: dict[str, list[int]], videos: list[str]) -> list[str]:
    """Markdown table: each variant's R@1 and MRR, and its paired difference from ``hybrid`` with two 95%
    intervals: questions resampled, and whole videos resampled (``videos``: each question's video; the honest
    one when a set has few videos, see :func:`vcval.evaluation.metrics.paired_bootstrap`)."""
    base_r1 = [100.0 * (r == 1) for r in ranks["hybrid"]]
    base_rr = [100.0 / r if r else 0.0 for r in ranks["hybrid"]]
    lines = ["| variant | R@1 | R@1 difference | by question | by video | MRR | MRR difference | by question | by video |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, rl in ranks.items():
        cells = [name]
        for base, mine in ((base_r1, [100.0 * (r == 1) for r in rl]), (base_rr, [100.0 / r if r else 0.0 for r in rl])):
            d, lo, hi = paired_bootstrap(base, mine)
            _, vlo, vhi = paired_bootstrap(base, mine, groups=videos)
            cells += [f"{np.mean(mine):.2f}", f"{d:+.2f}", f"[{lo:+.2f}, {hi:+.2f}]", f"[{vlo:+.2f}, {vhi:+.2f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "retrieval_feedback.md")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    lines = ["# Pseudo-relevance feedback for video retrieval", "",
             "`.venv/bin/python scripts/retrieval_feedback.py`", "", __doc__.split("\n\n", 2)[2].strip(), ""]
    for name, questions, transcripts in SETS:
        ranks, videos = measure(questions, transcripts)
        logger.info("%s done", name)
        lines += [f"## {name}: {len(ranks['hybrid'])} questions on {len(set(videos))} videos", "",
                  *table_lines(ranks, videos), ""]
    args.out.write_text("\n".join(lines))
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
