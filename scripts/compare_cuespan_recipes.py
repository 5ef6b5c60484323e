#!/usr/bin/env python
"""Compare trained CueSpan checkpoints (recipes x seeds) served as the default would serve them: the
dev number that chooses between them, and the transfer sets that never choose.

    .venv/bin/python scripts/compare_cuespan_recipes.py NAME=FOLDER [NAME=FOLDER ...] [--out FILE]

Each FOLDER is a checkpoint written by ``vcval train cuespan`` (``<output>/best``: weights, config,
inference.json and calibration.json). Columns: ``dev 941`` is the dev Rank@1 mIoU that training's own
calibration step measured over all 941 TutorialVQA by-video dev questions at the retrieval weight it
chose (the selection number); then retrieval over the whole corpus (top 10 videos, k = 10) on a seeded
sample of 300 dev questions, MedVidQA (29 transcripts, never trained or tuned on) and the demo questions
(never trained or tuned on): video R@1, Rank@1 mIoU, Rank@1 IoU>=0.5 (%), and the median rank-1 span
length in seconds beside the gold median. With ``--paired``, every checkpoint is also served on all the dev
questions and compared with the first one question by question: the mean Rank@1 IoU difference with 95%
paired bootstrap intervals by question and by video (``vcval.evaluation.metrics.paired_bootstrap``; an interval
holding 0 does not tell the two apart; dev has 8 videos, so the by-video one is the one to read).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.config import PipelineConfig  # noqa: E402
from vcval.evaluation import Evaluator  # noqa: E402

logger = logging.getLogger("compare_cuespan_recipes")

SETS = [  # (short name, questions, transcripts, sample)
    ("dev 300", "data/tutorialvqa/dev.json", "data/tutorialvqa/transcripts", 300),
    ("MedVidQA", "data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts", None),
    ("demo", "data/demo/questions.json", "data/demo/transcripts", None),
]


def measure(evaluator: Evaluator, folder: Path, questions: str, sample: int | None) -> dict[str, Any]:
    """R@1, Rank@1 mIoU, Rank@1 IoU>=0.5, median rank-1 / gold lengths and the per-question Rank@1 IoU (%) of
    ``folder`` served by default."""
    from vcval.localization.cuespan import CueSpanLocalizer
    from vcval.pipeline import VCVAL
    from vcval.retrieval import make_retriever

    corpus = evaluator.corpus
    loc = CueSpanLocalizer.from_pretrained(folder, encoder=corpus.text_encoder, idf=corpus.word_idf)
    qa = VCVAL(corpus, make_retriever(corpus, loc.inference.retriever, encoder=corpus.text_encoder), loc,
               PipelineConfig())
    report = evaluator.run(ROOT / questions, "cuespan", k=10, pipeline=qa, sample=sample, seed=0)
    rows = report.per_question
    m = report.metrics
    return {"R@1": m["R@1"], "mIoU": m["Rank@1 mIoU"], "iou50": m["Rank@1 IoU=0.5"],
            "len": statistics.median(r["predictions"][0][2] - r["predictions"][0][1] for r in rows if r["predictions"]),
            "gold": statistics.median(r["gold"][1] - r["gold"][0] for r in rows),
            "iou_at_1": [100.0 * r["iou_at_1"] for r in rows], "videos": [r["video_id"] for r in rows]}


def paired_table(named: list[tuple[str, Path]], evaluator: Evaluator) -> list[str]:
    """Markdown lines: each checkpoint against the first on all dev questions, question by question
    (``evaluator``: the one over the dev transcripts, ``SETS[0]``)."""
    from vcval.evaluation.metrics import paired_bootstrap

    questions = SETS[0][1]
    measured = {name: measure(evaluator, folder, questions, None) for name, folder in named}
    ref = named[0][0]
    videos = measured[ref]["videos"]
    lines = [f"Paired on all {len(videos)} dev questions ({len(set(videos))} videos), against `{ref}`: Rank@1 mIoU, "
             "and the mean difference in Rank@1 IoU with 95% paired bootstrap intervals (2,000 resamples of the "
             "questions, and of the videos: read the second, the questions of one video are not independent).", "",
             "| checkpoint | dev all R1 mIoU | difference | by question | by video |", "|---|---|---|---|---|"]
    for name, _ in named:
        mean, low, high = paired_bootstrap(measured[ref]["iou_at_1"], measured[name]["iou_at_1"])
        _, vlow, vhigh = paired_bootstrap(measured[ref]["iou_at_1"], measured[name]["iou_at_1"], groups=videos)
        score = statistics.fmean(measured[name]["iou_at_1"])
        lines.append(f"| {name} | {score:.2f} | {mean:+.2f} | [{low:+.2f}, {high:+.2f}] | [{vlow:+.2f}, {vhigh:+.2f}] |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+", metavar="NAME=FOLDER")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cuespan_recipes.md")
    ap.add_argument("--paired", action="store_true",
                    help="also serve every checkpoint on all dev questions and compare each with the first, paired")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    named = []
    for item in args.checkpoints:
        name, sep, folder = item.partition("=")
        if not sep or not (Path(folder) / "calibration.json").is_file():
            raise SystemExit(f"{item!r}: expected NAME=FOLDER with a trained, calibrated checkpoint in FOLDER")
        named.append((name, Path(folder)))
    results: dict[str, dict[str, dict[str, float]]] = {name: {} for name, _ in named}
    evaluators = {}
    for short, questions, transcripts, sample in SETS:
        evaluator = evaluators[short] = Evaluator(ROOT / transcripts, progress=False)
        for name, folder in named:
            results[name][short] = measure(evaluator, folder, questions, sample)
            logger.info("%s %s: %s", name, short, results[name][short])
    head = "| checkpoint | dev 941 R1 mIoU | " + " | ".join(
        f"{s} R@1 | {s} R1 mIoU | {s} R1@.5 | {s} len s" for s, *_ in SETS) + " |"
    lines = [
        "# CueSpan recipes and seeds",
        "",
        "`.venv/bin/python scripts/compare_cuespan_recipes.py " + " ".join(args.checkpoints) + "`",
        "",
        __doc__.split("\n\n", 2)[2].strip(),
        "",
        head,
        "|" + "---|" * (2 + 4 * len(SETS)),
    ]
    for name, folder in named:
        cal = json.loads((folder / "calibration.json").read_text())
        dev = max(cal["dev_rank1_miou_by_retrieval_weight"].values())
        cells = [f"{r['R@1']:.1f} | {r['mIoU']:.2f} | {r['iou50']:.2f} | {r['len']:.1f}"
                 for r in (results[name][s] for s, *_ in SETS)]
        lines.append(f"| {name} | {dev:.2f} | " + " | ".join(cells) + " |")
    gold = " · ".join(f"{s} {results[named[0][0]][s]['gold']:.1f} s" for s, *_ in SETS)
    lines += ["", f"Gold answer median: {gold}.", ""]
    if args.paired:
        lines += paired_table(named, evaluators[SETS[0][0]])
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
