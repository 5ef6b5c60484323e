#!/usr/bin/env python
"""Choose the RocketQAv2 checkpoint's serving setting on TutorialVQA dev and write it into its rocketqa.json.

    .venv/bin/python scripts/tune_rocketqa.py runs/rocketqa/best [--sample 150] [--weights 0 0.5 1 2]

``window_weight``: how much the re-ranker's window scores weigh in the baseline localizer's per-cue relevance
(:class:`vcval.localization.baseline.BaselineLocalizer`). Each weight is scored by Rank@1 mIoU of
``--method rocketqa`` on a seeded sample of the TutorialVQA by-video dev questions (retrieval over the whole
dev corpus, run once and reused: only the localizer changes); the best is written to
``<checkpoint>/rocketqa.json`` under ``inference`` with the table. Only dev is used.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--sample", type=int, default=150)
    ap.add_argument("--weights", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    from vcval.pipeline import build_pipeline

    evaluator = Evaluator(ROOT / "data/tutorialvqa/transcripts", progress=False)
    qa = build_pipeline(evaluator.corpus, "rocketqa", checkpoint=args.checkpoint, device="cpu")
    qa.retriever = CachedRetriever(qa.retriever)
    rows = []
    for w in args.weights:
        qa.localizer.window_weight = w  # type: ignore[attr-defined]
        report = evaluator.run(ROOT / "data/tutorialvqa/dev.json", "rocketqa", k=10, pipeline=qa,
                               sample=args.sample, seed=0)
        m = report.metrics
        rows.append({"window_weight": w, "n": report.n_questions, "R@1": round(m["R@1"], 2),
                     "Rank@1 mIoU": round(m["Rank@1 mIoU"], 2), "Rank@1 IoU=0.5": round(m["Rank@1 IoU=0.5"], 2)})
        logger.info("%s", rows[-1])
    best = max(rows, key=lambda r: (r["Rank@1 mIoU"], -r["window_weight"]))
    path = args.checkpoint / "rocketqa.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["inference"] = {"window_weight": best["window_weight"],
                           "chosen_on": f"TutorialVQA by-video dev, {best['n']} sampled questions (seed 0)",
                           "command": "scripts/tune_rocketqa.py " + " ".join(sys.argv[1:]), "table": rows}
    path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    print("| window_weight | N | video R@1 | Rank@1 mIoU | Rank@1 IoU>=0.5 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['window_weight']} | {r['n']} | {r['R@1']} | {r['Rank@1 mIoU']} | {r['Rank@1 IoU=0.5']} |")
    print(f"chosen: window_weight = {best['window_weight']} (written to {path})")


if __name__ == "__main__":
    main()
