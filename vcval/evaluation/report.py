"""Result tables and the ``vcval eval`` command (mounted by ``vcval/cli.py``)."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from vcval.evaluation.metrics import IOU_THRESHOLDS, RANK_NS, RETRIEVAL_KS, metric_names
from vcval.evaluation.runner import EvalReport, Evaluator, question_progress
from vcval.pipeline import METHODS

logger = logging.getLogger(__name__)


def short_name(metric: str) -> str:
    """Compact column header: ``"Rank@10 IoU=0.5"`` -> ``"R10@.5"``, ``"Rank@1 mIoU"`` -> ``"R1 mIoU"``."""
    if not metric.startswith("Rank@"):
        return metric
    n, rest = metric[len("Rank@") :].split(" ", 1)
    return f"R{n} mIoU" if rest == "mIoU" else f"R{n}@{rest.split('=')[1].lstrip('0')}"


def format_table(reports: Sequence[EvalReport], *, label: str = "Method", show_dataset: bool = True) -> str:
    """A Markdown table, one row per report: the 16 metrics (percent), N questions, corpus size, s/question."""
    head = (["Dataset"] if show_dataset else []) + [label, "N", "Videos"]
    head += [short_name(m) for m in metric_names()] + ["s/q", "s/q med"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for r in reports:
        row = ([r.dataset] if show_dataset else []) + [r.method, str(r.n_questions), str(r.corpus_size)]
        row += [f"{r.metrics[m]:.2f}" for m in metric_names()]
        row += [f"{r.seconds_per_question:.3f}", f"{r.median_seconds_per_question:.3f}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def metric_legend() -> str:
    """One line explaining the compact column names."""
    return (
        f"R@{{{','.join(map(str, RETRIEVAL_KS))}}}, MRR: video retrieval. "
        f"R<n>@<m>: Rank@n IoU=m, the percent of questions with a correct-video span of IoU >= m among the "
        f"top n (n in {list(RANK_NS)}, m in {list(IOU_THRESHOLDS)}); R<n> mIoU: mean best IoU among the top n. "
        "All in percent. s/q: mean seconds per question (ask() only: corpus and model loading excluded, "
        "first-touch caches such as per-video cue embeddings included); s/q med: the median (steady state)."
    )


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``vcval eval`` (the lead's cli.py mounts them on its ``eval`` sub-parser)."""
    parser.add_argument("--questions", required=True, type=Path,
                        help="MedVidQA-format JSON list: question, video_id, answer_start_second, answer_end_second")
    parser.add_argument("--transcripts", required=True, type=Path,
                        help="folder of <video_id>.json transcripts [{start, duration, text}]; the corpus is ALL of them")
    parser.add_argument("--features", type=Path, default=None, help="folder of <video_id>.npy (T, D) visual features")
    parser.add_argument("--method", default="default", choices=list(METHODS), help="retriever + localizer (default: default)")
    parser.add_argument("--k", type=int, default=100, help="predictions kept per question (default 100)")
    parser.add_argument("--json", dest="json_out", type=Path, default=None,
                        help="write all metrics and per-question predictions here")
    parser.add_argument("--n-videos", type=int, default=10, help="retrieved videos the localizer sees (default 10)")
    parser.add_argument("--checkpoint", default=None, help="checkpoint folder or Hub id of the method's trained model (cuespan/default, ccgs, repbert, repbert-hybrid, mbvr)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--skip-missing", action="store_true",
                        help="leave out questions whose video has no transcript (default: error)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N questions")
    parser.add_argument("--sample", type=int, default=None,
                        help="evaluate a seeded random subset of N questions (see --seed)")
    parser.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="corpus cache folder (default $VCVAL_HOME/eval/<hash> or ~/.cache/vcval/eval/<hash>)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars (they are drawn on stderr only when it is a terminal)")


def run_eval_command(args: argparse.Namespace) -> int:
    """Run ``vcval eval`` from parsed arguments: print the table; write the JSON report when asked."""
    quiet = getattr(args, "quiet", False)
    evaluator = Evaluator(args.transcripts, args.features, cache_dir=args.cache_dir, progress=not quiet)
    pipeline_kwargs = {"n_videos": args.n_videos, "device": args.device}
    if args.checkpoint:
        pipeline_kwargs["checkpoint"] = args.checkpoint
    with question_progress(not quiet) as progress:
        report = evaluator.run(
            args.questions,
            args.method,
            k=args.k,
            missing="skip" if args.skip_missing else "error",
            limit=args.limit,
            sample=args.sample,
            seed=args.seed,
            pipeline_kwargs=pipeline_kwargs,
            progress=progress,
        )
    print(format_table([report]))
    print(f"\n{report.n_questions} questions over a corpus of {report.corpus_size} videos; "
          f"{report.seconds_per_question:.3f} s/question (median {report.median_seconds_per_question:.3f}); "
          f"{report.n_errors} errors.")
    if args.json_out is not None:
        report.save(args.json_out)
        print(f"wrote {args.json_out}", file=sys.stderr)
    return 0
