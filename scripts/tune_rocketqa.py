#!/usr/bin/env python
"""Choose the RocketQAv2 checkpoint's serving settings on TutorialVQA dev and write them into its rocketqa.json.

    .venv/bin/python scripts/tune_rocketqa.py runs/rocketqa/best [--sample 150] [--first-stage-weights 0 0.5 1 2 4]
        [--weights 0 0.5 1 2]

First ``first_stage_weight`` (:class:`vcval.retrieval.RerankRetriever`: 0 = the re-ranker's order alone, w > 0 =
reciprocal rank fusion of the re-ranker's order with the first stage's, weight w), chosen by video MRR; ties go
to the larger weight (the closer to the first stage). Then, at that weight, ``window_weight``: how much the
re-ranker's window scores weigh in the baseline localizer's per-cue relevance
(:class:`vcval.localization.baseline.BaselineLocalizer`), chosen by Rank@1 mIoU. Every setting is scored by
``--method rocketqa`` on the same seeded sample of the TutorialVQA by-video dev questions (retrieval over the
whole dev corpus; the first stage's hits and the re-ranker's scores are computed once per question and reused
across the settings). The choices and both tables are written to ``<checkpoint>/rocketqa.json`` under
``inference``. Only dev is used.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation import Evaluator  # noqa: E402

logger = logging.getLogger("tune_rocketqa")


class CachedRetriever:
    """The same hits for the same (query, k): retrieval is run once across the weights compared."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[tuple[str, int], list] = {}

    def search(self, query: str, k: int) -> list:
        key = (query, k)
        if key not in self.cache:
            self.cache[key] = self.inner.search(query, k)
        return self.cache[key]


class CachedReranker:
    """The same scores for the same (question, window texts): the cross-encoder runs once per question."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.inference = getattr(inner, "inference", {})
        self.cache: dict[tuple[str, tuple[str, ...]], Any] = {}

    def score(self, question: str, texts: list[str]) -> Any:
        key = (question, tuple(texts))
        if key not in self.cache:
            self.cache[key] = self.inner.score(question, texts)
        return self.cache[key]


def _row(report: Any, **setting: float) -> dict[str, Any]:
    m = report.metrics
    return {**setting, "n": report.n_questions, "R@1": round(m["R@1"], 2), "MRR": round(m["MRR"], 2),
            "Rank@1 mIoU": round(m["Rank@1 mIoU"], 2), "Rank@1 IoU=0.5": round(m["Rank@1 IoU=0.5"], 2)}


def _table(rows: list[dict[str, Any]], key: str) -> str:
    lines = [f"| {key} | N | video R@1 | video MRR | Rank@1 mIoU | Rank@1 IoU>=0.5 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r[key]} | {r['n']} | {r['R@1']} | {r['MRR']} | {r['Rank@1 mIoU']} | {r['Rank@1 IoU=0.5']} |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--sample", type=int, default=150)
    ap.add_argument("--first-stage-weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    from vcval.pipeline import build_pipeline

    evaluator = Evaluator(ROOT / "data/tutorialvqa/transcripts", progress=False)
    qa = build_pipeline(evaluator.corpus, "rocketqa", checkpoint=args.checkpoint, device="cpu")
    rerank = qa.retriever
    rerank.first_stage = CachedRetriever(rerank.first_stage)  # type: ignore[attr-defined]
    rerank.reranker = CachedReranker(rerank.reranker)  # type: ignore[attr-defined]

    def run() -> Any:
        return evaluator.run(ROOT / "data/tutorialvqa/dev.json", "rocketqa", k=10, pipeline=qa,
                             sample=args.sample, seed=0)

    fs_rows = []
    qa.localizer.window_weight = 0.0  # type: ignore[attr-defined]
    for fw in args.first_stage_weights:
        rerank.first_stage_weight = fw  # type: ignore[attr-defined]
        fs_rows.append(_row(run(), first_stage_weight=fw))
        logger.info("%s", fs_rows[-1])
    best_fs = max(fs_rows, key=lambda r: (r["MRR"], r["first_stage_weight"]))["first_stage_weight"]
    rerank.first_stage_weight = best_fs  # type: ignore[attr-defined]
    rows = []
    for w in args.weights:
        qa.localizer.window_weight = w  # type: ignore[attr-defined]
        rows.append(_row(run(), window_weight=w))
        logger.info("%s", rows[-1])
    best = max(rows, key=lambda r: (r["Rank@1 mIoU"], -r["window_weight"]))
    path = args.checkpoint / "rocketqa.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["inference"] = {"first_stage_weight": best_fs, "window_weight": best["window_weight"],
                           "chosen_on": f"TutorialVQA by-video dev, {best['n']} sampled questions (seed 0)",
                           "command": "scripts/tune_rocketqa.py " + " ".join(sys.argv[1:]),
                           "first_stage_table": fs_rows, "table": rows}
    path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    print(_table(fs_rows, "first_stage_weight"))
    print(f"chosen: first_stage_weight = {best_fs}\n")
    print(_table(rows, "window_weight"))
    print(f"chosen: window_weight = {best['window_weight']} (both written to {path})")


if __name__ == "__main__":
    main()
