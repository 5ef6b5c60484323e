#!/usr/bin/env python
"""Retrieval alone, every retriever side by side (issue 11): video R@1/5/10, MRR, window recall@10/100,
seconds per question, and the index each method needs (build time, size), measured in one run.

    .venv/bin/python scripts/retrieval_results.py --rocketqa runs/rocketqa/best --repbert runs/repbert/best \\
        [--sample 300] [--methods ...] [--out benchmarks/retrieval.md]

Questions: the TutorialVQA by-video test (a seeded sample, seed 0: the same questions as RESULTS.md), MedVidQA
with transcripts (29 videos, never trained or tuned on), the demo questions. The corpus of each set is the one
``vcval eval`` builds (every transcript of the set's folder), so its default index (window BM25 + MiniLM) is
shared by all methods; methods with another encoder build that encoder's window index on first use, timed
here as their index build (0 when a row above already built the same encoder's index). Video rank = order of a video's first hit among the top 100 windows (videos not
among them count as not found). Window recall@k: one of the top k windows overlaps the gold span in the gold
video. s/q: median seconds per question (retrieval only, models loaded).
"""
from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation import Evaluator  # noqa: E402
from vcval.evaluation.questions import load_questions, seeded_sample  # noqa: E402

logger = logging.getLogger("retrieval_results")

DEV_SET = ("TutorialVQA by-video dev (all questions: where a choice is made)", "data/tutorialvqa/dev.json",
           "data/tutorialvqa/transcripts", False)
DATASETS = [  # (name, questions, transcripts, sample?)
    ("TutorialVQA by-video test", "data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", True),
    ("MedVidQA (29 videos, never trained or tuned on)", "data/medvidqa/questions_with_transcripts.json",
     "data/medvidqa/transcripts", False),
    ("demo (8 videos)", "data/demo/questions.json", "data/demo/transcripts", False),
]
BASELINES = ["bm25-video", "bm25", "dense", "hybrid"]
DEPTH = 100


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def make(corpus: Any, method: str, args: argparse.Namespace) -> Any:
    """The retriever of ``method`` over ``corpus`` (learned ones from the given checkpoints)."""
    from vcval.retrieval import make_retriever

    if method in ("repbert", "repbert-hybrid"):
        return make_retriever(corpus, method, encoder=corpus.text_encoder, repbert=args.repbert)
    if method in ("rocketqa", "rocketqa-dual", "rocketqa-dual-hybrid"):
        from vcval.models.reranker import load_rocketqa

        dual, reranker = load_rocketqa(args.rocketqa, device="cpu")
        if method == "rocketqa":
            return make_retriever(corpus, "rocketqa", repbert=dual, reranker=reranker)
        return make_retriever(corpus, "repbert" if method == "rocketqa-dual" else "repbert-hybrid", repbert=dual)
    if method == "mbvr":
        return make_retriever(corpus, "mbvr", encoder=corpus.text_encoder)
    return make_retriever(corpus, method, encoder=corpus.text_encoder)


def score(retriever: Any, questions: list, corpus: Any) -> dict[str, float]:
    """Video R@1/5/10, MRR, window recall@10/100 (%), median and mean s/question."""
    ranks, rec10, rec100, secs = [], [], [], []
    for q in questions:
        t0 = time.perf_counter()
        hits = retriever.search(q.question, DEPTH)
        secs.append(time.perf_counter() - t0)
        videos: list[str] = []
        for h in hits:
            if h.video_id not in videos:
                videos.append(h.video_id)
        ranks.append(videos.index(q.video_id) + 1 if q.video_id in videos else float("inf"))
        good = [h.video_id == q.video_id and min(h.end, q.end) > max(h.start, q.start) for h in hits]
        rec10.append(any(good[:10]))
        rec100.append(any(good[:100]))
    n = len(questions)
    return {"R@1": 100 * sum(r <= 1 for r in ranks) / n, "R@5": 100 * sum(r <= 5 for r in ranks) / n,
            "R@10": 100 * sum(r <= 10 for r in ranks) / n, "MRR": 100 * sum(1 / r for r in ranks) / n,
            "win@10": 100 * sum(rec10) / n, "win@100": 100 * sum(rec100) / n,
            "s/q": statistics.median(secs), "mean s/q": statistics.fmean(secs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+",
                    default=BASELINES + ["repbert", "repbert-hybrid", "rocketqa-dual", "rocketqa-dual-hybrid",
                                         "rocketqa"])
    ap.add_argument("--repbert", default=None, help="RepBERT encoder folder (runs/repbert/best)")
    ap.add_argument("--rocketqa", default=None, help="RocketQAv2 checkpoint folder (runs/rocketqa/best)")
    ap.add_argument("--sample", type=int, default=300, help="seeded sample of the TutorialVQA test questions")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "retrieval.md")
    ap.add_argument("--note", default="", help="a paragraph printed under the header")
    ap.add_argument("--dev", action="store_true", help="also the TutorialVQA by-video dev questions (first)")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()

    lines = ["# Retrieval: every retriever on every set (issue 11)", "",
             f"`.venv/bin/python scripts/retrieval_results.py {' '.join(sys.argv[1:])}`", "",
             (__doc__ or "").split("\n\n", 2)[2].strip(), ""]
    if args.note:
        lines += [args.note, ""]
    for title, qpath, tpath, sampled in ([DEV_SET] if args.dev else []) + DATASETS:
        if not (ROOT / qpath).is_file():
            logger.warning("skipping %s: %s missing", title, qpath)
            continue
        questions = load_questions(ROOT / qpath)
        if sampled and args.sample:
            questions = seeded_sample(questions, args.sample, 0)
        evaluator = Evaluator(ROOT / tpath, progress=False)
        t0 = time.perf_counter()
        corpus = evaluator.corpus
        have = {r.video_id for r in corpus}
        questions = [q for q in questions if q.video_id in have]
        shutil.rmtree(Path(corpus.root) / "index" / "encoders", ignore_errors=True)  # time every build afresh
        base_index = _dir_size(Path(corpus.root) / "index")
        logger.info("%s: %d questions, corpus of %d videos (opened in %.1f s)", title, len(questions), len(corpus),
                    time.perf_counter() - t0)
        lines += [f"## {title}: {len(questions)} questions, {len(corpus)} videos", "",
                  "| method | R@1 | R@5 | R@10 | MRR | window R@10 | window R@100 | s/q (median) | "
                  "extra index build s | extra index MB |", "|---|---|---|---|---|---|---|---|---|---|"]
        for method in args.methods:
            try:
                retriever = make(corpus, method, args)
            except Exception as err:  # a method without its checkpoint: say so in the table
                lines.append(f"| {method} | not run: {err} |||||||||")
                continue
            before = _dir_size(Path(corpus.root) / "index")
            t1 = time.perf_counter()
            retriever.search("warm up the index", 1)  # builds this encoder's window index on first use
            build = time.perf_counter() - t1
            extra = (_dir_size(Path(corpus.root) / "index") - before) / 1e6
            m = score(retriever, questions, corpus)
            lines.append(f"| {method} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} | {m['MRR']:.1f} | "
                         f"{m['win@10']:.1f} | {m['win@100']:.1f} | {m['s/q']:.3f} | {build:.1f} | {extra:.1f} |")
            logger.info("%s", lines[-1])
        lines += ["", f"Default index (window BM25 + MiniLM vectors + catalog): {base_index / 1e6:.1f} MB.", ""]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
