"""Do the Milvus and embedded index backends give the same answers on the real question sets?

    .venv/bin/python benchmarks/bench_backends.py [--sample 300] [--out benchmarks/backends.md]

For each question set (TutorialVQA by-video test, a seeded sample as in RESULTS.md; MedVidQA with
transcripts; the demo questions) the corpus ``vcval eval`` builds for it (embedded: FAISS + bm25s) is
copied -- catalog and stored window vectors, no index files -- and opened with a milvus-lite index, so
the reconcile on open indexes every video in Milvus from the same vectors and tokens. Both corpora then
answer every question with the ``bm25``, ``dense`` and ``hybrid`` retrievers (top 100 windows, videos by
their best window) and the Milvus server-side RRF (``Corpus.hybrid_search``, top 100 windows).

Columns: top-10 video overlap (shared videos / 10, mean over questions), the share of questions whose
top-10 video list is identical in order, the share whose first video agrees, and the median seconds per
question of each backend. milvus-lite is an in-process engine meant for tests and trying the path; its
timings say nothing about a Milvus server.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import ROOT, copy_catalog, markdown_table, remove  # noqa: E402

from vcval.utils import setup_script_logging  # noqa: E402

logger = logging.getLogger("bench")
WORK = ROOT / "runs" / "backends"
SETS = [  # (name, questions, transcripts, sample?)
    ("TutorialVQA by-video test", "data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", True),
    ("MedVidQA (29 videos)", "data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts", False),
    ("demo (8 videos)", "data/demo/questions.json", "data/demo/transcripts", False),
]
METHODS = ("bm25", "dense", "hybrid", "native-rrf")


def top_videos(corpus: Any, encoder: Any, questions: list[str], method: str) -> tuple[list[list[str]], list[float]]:
    """Per question the top-10 video ids by ``method`` and the seconds it took."""
    from vcval.retrieval import make_retriever, rank_videos

    tops, secs = [], []
    if method == "native-rrf":
        vecs = encoder.encode(questions)
        for q, v in zip(questions, vecs):
            t0 = time.perf_counter()
            hits = corpus.hybrid_search(q, v, 100)
            secs.append(time.perf_counter() - t0)
            tops.append([vid for vid, _, _ in rank_videos(hits, 10)])
        return tops, secs
    ret = make_retriever(corpus, method, encoder=encoder)
    for q in questions:
        t0 = time.perf_counter()
        hits = ret.search(q, 100)
        secs.append(time.perf_counter() - t0)
        tops.append([vid for vid, _, _ in rank_videos(hits, 10)])
    return tops, secs


def compare(a: list[list[str]], b: list[list[str]]) -> dict[str, float]:
    """Top-10 overlap, identical lists and same first video, in percent over questions (two empty lists,
    a question with no word in the index, agree)."""
    n = max(1, len(a))
    return {"overlap": 100 * sum(len(set(x) & set(y)) / max(len(x), len(y)) if (x or y) else 1.0
                                 for x, y in zip(a, b)) / n,
            "identical": 100 * sum(x == y for x, y in zip(a, b)) / n,
            "same_first": 100 * sum(x[:1] == y[:1] for x, y in zip(a, b)) / n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample", type=int, default=300, help="seeded sample of the TutorialVQA test questions")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "backends.md")
    args = ap.parse_args()
    setup_script_logging()
    from vcval.corpus import Corpus
    from vcval.evaluation import Evaluator
    from vcval.evaluation.questions import load_questions

    WORK.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, qpath, tdir, sample in SETS:
        if not (ROOT / qpath).is_file():
            logger.warning("skipping %s: %s missing (run the scripts/convert_*.py converters)", name, qpath)
            continue
        ev = Evaluator(ROOT / tdir, progress=False)
        emb = ev.corpus
        questions = load_questions(ROOT / qpath)
        if sample and len(questions) > args.sample:
            import random

            questions = random.Random(0).sample(questions, args.sample)
        texts = [q.question for q in questions]
        slug = name.split()[0].lower()
        root, lite = WORK / f"{slug}-milvus", WORK / f"{slug}-milvus.db"
        remove(root, lite)
        copy_catalog(emb.root, root)
        t0 = time.perf_counter()
        mil = Corpus.open(root, text_encoder=emb.text_encoder, index=f"milvus-lite://{lite}")
        reconcile_s = time.perf_counter() - t0
        logger.info("%s: %d questions, %d videos, Milvus reconcile %.1f s", name, len(texts), len(emb), reconcile_s)
        for method in METHODS:
            a, sa = top_videos(emb, emb.text_encoder, texts, method)
            b, sb = top_videos(mil, emb.text_encoder, texts, method)
            c = compare(a, b)
            rows.append([name, len(texts), len(emb), method, f"{c['overlap']:.1f}", f"{c['identical']:.1f}",
                         f"{c['same_first']:.1f}", f"{1000 * statistics.median(sa):.1f}",
                         f"{1000 * statistics.median(sb):.1f}"])
            logger.info("%s", rows[-1])
        mil.close()
        remove(root, lite)
    table = markdown_table(["set", "questions", "videos", "retriever", "top-10 overlap %", "identical top-10 %",
                            "same first video %", "embedded ms (median)", "milvus-lite ms (median)"], rows)
    text = ("# Milvus vs the embedded index on the real question sets\n\n"
            f"Made by `python benchmarks/bench_backends.py --sample {args.sample}` on {os.cpu_count()} shared CPU "
            f"cores ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Method: see the docstring of "
            "`benchmarks/bench_backends.py`.\n\n" + table + "\n")
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
