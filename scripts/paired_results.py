#!/usr/bin/env python
"""How sure are the headline differences? The per-question results behind ``benchmarks/RESULTS.md``, paired.

    .venv/bin/python scripts/paired_results.py [--eval-dir runs/eval] [--out benchmarks/paired_results.md]
    .venv/bin/python scripts/paired_results.py --compare BASE.json CANDIDATE.json [...]   # any reports, to stdout

Reads the ``vcval eval --json`` reports that ``scripts/make_results.py`` leaves in ``runs/eval/``
(``<dataset>__<method>.json``) and compares each method with ``hybrid`` (the training-free baseline) on the
same questions: the mean difference in Rank@1 IoU and in video R@1 (x 100 per question), with 95% bootstrap
intervals (2,000 resamples) that resample questions and that resample whole videos
(:func:`vcval.evaluation.metrics.paired_bootstrap`). Questions on one video are not independent, and these sets
have few videos (TutorialVQA by-video test: 16), so the by-video interval is the one to read. The leaky official
TutorialVQA split is skipped (only the training-free methods run there).
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation.metrics import paired_bootstrap  # noqa: E402

logger = logging.getLogger("paired_results")
BASELINE = "hybrid"


def load(path: Path) -> dict[str, dict]:
    """A report's per-question rows by sample id."""
    return {str(r["sample_id"]): r for r in json.loads(path.read_text(encoding="utf-8"))["per_question"]}


def table(dataset: str, eval_dir: Path) -> list[str]:
    """Markdown lines for one dataset: every method with a report, against ``hybrid``."""
    reports = [(path.stem.split("__", 1)[1], path) for path in sorted(eval_dir.glob(f"{dataset}__*.json"))]
    return compare(dataset, eval_dir / f"{dataset}__{BASELINE}.json", reports)


def compare(title: str, base_path: Path, reports: list[tuple[str, Path]]) -> list[str]:
    """Markdown lines: each (name, ``vcval eval --json`` report) against the report ``base_path`` on the same
    questions, Rank@1 IoU and video R@1, with intervals by question and by video."""
    base = load(base_path)
    ids = sorted(base)
    videos = [base[i]["video_id"] for i in ids]
    lines = [f"## {title}: {len(ids)} questions on {len(set(videos))} videos", "",
             "| method | Rank@1 mIoU | difference | by question | by video | video R@1 | difference | by question | by video |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method, path in reports:
        rows = load(path)
        if sorted(rows) != ids:
            logger.warning("%s: not the same questions as %s; skipped", path.name, base_path.name)
            continue
        cells = [method]
        for value in (lambda r: 100.0 * r["iou_at_1"], lambda r: 100.0 * (r["video_rank"] == 1)):
            a = [value(base[i]) for i in ids]
            b = [value(rows[i]) for i in ids]
            mean, low, high = paired_bootstrap(a, b)
            _, vlow, vhigh = paired_bootstrap(a, b, groups=videos)
            cells += [f"{statistics.fmean(b):.2f}", f"{mean:+.2f}", f"[{low:+.2f}, {high:+.2f}]",
                      f"[{vlow:+.2f}, {vhigh:+.2f}]"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", type=Path, default=ROOT / "runs" / "eval")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "paired_results.md")
    ap.add_argument("--compare", nargs="+", type=Path, metavar="REPORT",
                    help="print the table of these vcval eval --json reports against the first (same questions)")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    if args.compare:
        if len(args.compare) < 2:
            raise SystemExit("--compare needs a base report and at least one other")
        base, *others = args.compare
        print("\n".join(compare(f"against {base}", base, [(str(p), p) for p in others])))
        return
    datasets = sorted({p.stem.split("__", 1)[0] for p in args.eval_dir.glob(f"*__{BASELINE}.json")} - {
        "tutorialvqa-official-test-LEAKY"})
    datasets = [d for d in datasets if (args.eval_dir / f"{d}__cuespan.json").is_file()]
    if not datasets:
        raise SystemExit(f"no {BASELINE} + cuespan report pairs in {args.eval_dir}: run scripts/make_results.py first")
    lines = ["# The headline differences, paired", "", "`.venv/bin/python scripts/paired_results.py`", "",
             __doc__.split("\n\n", 2)[2].strip(), ""]
    for dataset in datasets:
        lines += table(dataset, args.eval_dir)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
