#!/usr/bin/env python
"""Regenerate benchmarks/RESULTS.md: every baseline method on every development dataset.

Usage::

    .venv/bin/python scripts/make_results.py            # convert data if needed, run all, write RESULTS.md
    .venv/bin/python scripts/make_results.py --reuse    # reuse runs/eval/*.json already computed
    .venv/bin/python scripts/make_results.py --methods bm25 hybrid --limit 50   # quick look (not for RESULTS.md)
    .venv/bin/python scripts/make_results.py --sample 300 --methods bm25-video bm25 dense hybrid ccgs
                                      # a seeded random subset of 300 questions per set (what RESULTS.md holds)

Each run is exactly ``vcval eval --questions Q --transcripts T --method M --k 100 --json J`` (the
command is printed under each table); its full report (metrics + per-question predictions) lands in
``runs/eval/<dataset>__<method>.json``. The setting is the CCGS paper's "pipeline": retrieval first
over the WHOLE corpus (the question's video id is hidden), then localization inside the retrieved
videos.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation import EvalReport, Evaluator, format_table, metric_names  # noqa: E402
from vcval.evaluation.report import metric_legend, short_name  # noqa: E402

logger = logging.getLogger("make_results")

METHODS = {
    "bm25-video": "BM25 over whole transcripts (one document per video) + baseline localizer",
    "bm25": "BM25 over cue windows + baseline localizer",
    "dense": "dense (packaged all-MiniLM-L6-v2) over cue windows + baseline localizer",
    "hybrid": "hybrid fusion of BM25 and dense over cue windows + baseline localizer",
    "cuespan": "hybrid retrieval + the TRAINED CueSpan localizer over stored sentence encodings (the shipped "
               "checkpoints/cuespan; trained on the TutorialVQA by-video train videos, settings and calibration "
               "chosen on its dev videos); the same as `--method default`",
    "ccgs": "hybrid retrieval + the TRAINED CCGS cross-encoder localizer (the shipped checkpoints/ unless "
            "--checkpoint is given), its span scores fused with the baseline's (weight tuned on TutorialVQA dev); "
            "the accurate mode for a GPU",
}


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    questions: str
    transcripts: str
    note: str


DATASETS = [
    Dataset(
        "tutorialvqa-test-by-video",
        "TutorialVQA, by-video test split (main development benchmark)",
        "data/tutorialvqa/test.json",
        "data/tutorialvqa/transcripts",
        "Questions of the 16 held-out videos of `scripts/splits/tutorialvqa_video_split.json` (seed 2024), "
        "pooled from all three official files; the corpus is all 76 videos. The `ccgs` model was trained on "
        "the train videos of this split only and its fusion weights were chosen on the dev videos.",
    ),
    Dataset(
        "tutorialvqa-official-test-LEAKY",
        "TutorialVQA, official test split (LEAKY: split by question, its videos are also in train)",
        "data/tutorialvqa/official_test.json",
        "data/tutorialvqa/transcripts",
        "The official question split. Every test video also appears in the official train split, so a model "
        "trained on `official_train.json` has read the test transcripts; reported for comparison with "
        "published TutorialVQA numbers only. The corpus is all 76 videos.",
    ),
    Dataset(
        "medvidqa-with-transcripts",
        "MedVidQA (MedVidCQA setting), train questions whose video has a transcript",
        "data/medvidqa/questions_with_transcripts.json",
        "data/medvidqa/transcripts",
        "Only 29 of the 800 MedVidQA train videos have transcripts here, so this is 59 questions over a "
        "29-video corpus: far easier retrieval than the paper's 50-video test corpus with visual features, "
        "and small (one question = 1.7 points). YouTube auto-captions for 19 of the 29 videos."
        " Not a clean held-out set for the baseline localizer: its answer length/position prior "
        "(`vcval.localization.baseline.SpanPrior`) is fitted to all 2,710 MedVidQA train annotations, these 59 among them,"
        " and its prior weight was chosen on TutorialVQA dev plus these questions. The CCGS checkpoint never "
        "saw them (its prior weight is 0; its baseline term carries the prior).",
    ),
    Dataset(
        "demo",
        "The embedded demo corpus (8 synthetic first-aid videos, 24 example questions)",
        "data/demo/questions.json",
        "data/demo/transcripts",
        "The demo's own example questions (`assets/demo/questions.json`) over its 8 videos' subtitles, "
        "exported by `scripts/convert_demo.py` (transcripts only: the app's corpus also holds visual "
        "features, which none of these localizers reads). Never used for training or tuning. Tiny: one "
        "question = 4.2 points.",
    ),
]

# The CCGS paper's MedVidCQA test results (50 videos, 155 questions, I3D + DeBERTa-v3-base), as quoted
# in /work/shared/data/README.md "Facts worth knowing". Not reproduced here: a different split.
PAPER_ROWS = [
    ("CCGS (paper, MedVidCQA test)", {
        "R@1": 78.62, "R@5": 97.93, "MRR": 86.70,
        "Rank@1 IoU=0.3": 59.31, "Rank@1 IoU=0.5": 48.28, "Rank@1 IoU=0.7": 38.62, "Rank@1 mIoU": 47.00,
        "Rank@10 IoU=0.3": 80.00, "Rank@10 IoU=0.5": 70.34, "Rank@10 IoU=0.7": 58.62, "Rank@10 mIoU": 66.09,
    }),
    ("BM25 pipeline (paper, MedVidCQA test)", {"R@1": 64.83}),
    ("BM25 + VPTSL pipeline (paper, MedVidCQA test)", {"Rank@1 mIoU": 28.89}),
]


def ensure_data() -> None:
    """Run the converters when their outputs are missing (they are deterministic)."""
    jobs = [
        ("data/tutorialvqa/official_test.json", ["scripts/convert_tutorialvqa.py"]),
        ("data/medvidqa/questions_with_transcripts.json", ["scripts/convert_medvidqa.py"]),
        ("data/demo/questions.json", ["scripts/convert_demo.py"]),
    ]
    for target, cmd in jobs:
        if not (ROOT / target).exists():
            logger.info("converting: %s", " ".join(cmd))
            subprocess.run([sys.executable, *cmd], cwd=ROOT, check=True)


def eval_command(ds: Dataset, method: str, k: int, json_path: str, sample: int | None = None, seed: int = 0,
                 checkpoint: str | None = None) -> str:
    """The reproducible CLI command of one row."""
    cmd = (f"vcval eval --questions {ds.questions} --transcripts {ds.transcripts} "
           f"--method {method} --k {k} --json {json_path}")
    if sample is not None:
        cmd += f" --sample {sample} --seed {seed}"
    if method == "ccgs" and checkpoint:
        cmd += f" --checkpoint {checkpoint}"
    return cmd


def run_all(methods: Sequence[str], k: int, out_dir: Path, reuse: bool, limit: int | None,
            sample: int | None = None, seed: int = 0, checkpoint: str | None = None,
            skip: Sequence[str] = ()) -> dict[str, list[EvalReport]]:
    """Evaluate every method on every dataset; returns {dataset key: [reports]}.

    ``skip``: "dataset:method" pairs not to run (e.g. a trained model on a set that leaks its training data).
    """
    results: dict[str, list[EvalReport]] = {}
    for ds in DATASETS:
        evaluator = Evaluator(ROOT / ds.transcripts)
        results[ds.key] = []
        for method in methods:
            if f"{ds.key}:{method}" in skip:
                continue
            path = out_dir / f"{ds.key}__{method}.json"
            if reuse and path.exists():
                data = json.loads(path.read_text(encoding="utf-8"))
                want = limit if limit is not None else sample
                if data.get("k") == k and (want is None or data["n_questions"] <= want):
                    results[ds.key].append(EvalReport(**data))
                    logger.info("reused %s", path)
                    continue
            logger.info("running %s on %s", method, ds.key)
            kwargs = {"checkpoint": checkpoint} if method == "ccgs" and checkpoint else {}
            report = evaluator.run(ROOT / ds.questions, method, k=k, dataset=ds.key, limit=limit, sample=sample,
                                   seed=seed, pipeline_kwargs=kwargs)
            report.save(path)
            results[ds.key].append(report)
            logger.info("%s %s: R@1 %.2f, Rank@1 mIoU %.2f, %.3f s/q", ds.key, method,
                        report.metrics["R@1"], report.metrics["Rank@1 mIoU"], report.seconds_per_question)
    return results


def paper_table() -> str:
    """Markdown rows of the paper's reference numbers (blank where the paper gives none)."""
    names = metric_names()

    head = ["Reference (TAKEN FROM THE PAPER, its own test split)"] + [short_name(m) for m in names]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for label, vals in PAPER_ROWS:
        lines.append("| " + " | ".join([label] + [f"{vals[m]:.2f}" if m in vals else "–" for m in names]) + " |")
    return "\n".join(lines)


def machine_line() -> str:
    """A short description of the machine the timings come from."""
    try:
        import torch

        torch_v = torch.__version__
        threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        torch_v, threads = "n/a", 0
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs), "
            f"torch {torch_v} CPU with {threads} threads, Python {platform.python_version()}")


def corpus_line(report: EvalReport) -> str:
    """How long building the throwaway corpus took (or that it came from the cache)."""
    if report.corpus_build_seconds >= 1.0:
        return (f"Building the corpus (parse + MiniLM window embeddings) took {report.corpus_build_seconds:.0f} s "
                "on the first run; later runs reuse it from the cache.")
    return "The corpus came from the cache (built by an earlier run over the same transcripts folder)."


def render(results: dict[str, list[EvalReport]], k: int, out_dir: Path, limit: int | None,
           sample: int | None = None, seed: int = 0, checkpoint: str | None = None, note: str = "") -> str:
    """The whole RESULTS.md text (``note``: a paragraph under the header)."""
    rel_out = out_dir.relative_to(ROOT) if out_dir.is_relative_to(ROOT) else out_dir
    parts = [
        "# Results",
        "",
        f"Generated by `scripts/make_results.py` on {_dt.date.today().isoformat()}; do not edit by hand.",
        f"Timings: {machine_line()}.",
        "",
        "Setting (the CCGS paper's *pipeline*): for each question, retrieve over the WHOLE corpus (the "
        "question's video id is hidden), hand the top 10 videos to the localizer, keep the top "
        f"k = {k} (video, span) answers. The `bm25-video`, `bm25`, `dense` and `hybrid` rows are training-free: "
        "a retriever + the baseline localizer (`vcval.localization.baseline.BaselineLocalizer`: dense + lexical cue "
        "relevance, best contiguous span under an answer length/position prior; it keeps the retriever's video "
        "order and returns at most 3 spans per video, so at most 30 answers reach Rank@100). The `cuespan` row "
        "(the default) is the trained CueSpan localizer over hybrid retrieval (benchmarks/cuespan.md: training "
        "curve, calibration, ablations); the `ccgs` row is the trained CCGS cross-encoder localizer "
        "(benchmarks/ccgs_ablations.md). Neither is run on the leaky official TutorialVQA split, whose test "
        "videos they were trained on.",
        "",
        metric_legend(),
        "",
        "Timings were taken while other jobs may share the 2 CPU cores, so they are noisy "
        "upper bounds: compare the medians, and rerun on an idle machine for real speed numbers. For the "
        "baseline rows most of the mean comes from the localizer embedding each video's cues the first time "
        "the video is retrieved (once per video per run); `cuespan` reads the corpus's stored unit encodings.",
        "",
    ]
    if note:
        parts += [note, ""]
    if limit is not None:
        parts += [f"**Partial run: only the first {limit} questions of each set.**", ""]
    if sample is not None:
        parts += [f"Each set larger than {sample} questions is represented by a seeded random sample of {sample} "
                  f"questions (`--sample {sample} --seed {seed}`, the same questions for every method) to keep the "
                  "whole table within an hour on 2 CPU cores; the corpus is always the full set of videos. One "
                  f"question is {100 / sample:.2f} points of an IoU-threshold metric.", ""]
    for ds in DATASETS:
        reports = results.get(ds.key, [])
        if not reports:
            continue
        r0 = reports[0]
        parts += [
            f"## {ds.title}",
            "",
            f"{r0.n_questions} questions, corpus of {r0.corpus_size} videos. {ds.note}",
            "",
            format_table(reports, show_dataset=False),
            "",
            "Rows: " + "; ".join(f"`{r.method}` = {METHODS.get(r.method, r.method)}" for r in reports) + ".",
            "",
            "Commands:",
            "",
            "```",
            *[eval_command(ds, r.method, k, f"{rel_out}/{ds.key}__{r.method}.json", sample, seed, checkpoint)
              for r in reports],
            "```",
            "",
            corpus_line(r0),
            "",
        ]
    parts += [
        "## Reference: the CCGS paper (MedVidCQA test)",
        "",
        "Numbers TAKEN FROM THE PAPER, not measured here: its own MedVidCQA test split (50 videos, 155 "
        "questions, I3D visual features + DeBERTa-v3-base), which is not available in this repository. "
        "They are a reference point, not comparable row-for-row with the tables above.",
        "",
        paper_table(),
        "",
    ]
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "eval", help="per-run JSON reports")
    ap.add_argument("--reuse", action="store_true", help="reuse per-run JSON reports that exist")
    ap.add_argument("--limit", type=int, default=None, help="first N questions per set (quick look)")
    ap.add_argument("--sample", type=int, default=None, help="a seeded random subset of N questions per set")
    ap.add_argument("--seed", type=int, default=0, help="seed of --sample")
    ap.add_argument("--checkpoint", default=None, help="CCGS checkpoint for the ccgs rows (default: the shipped one)")
    ap.add_argument("--note", default="", help="a paragraph printed under the header (e.g. which rows were not rerun)")
    ap.add_argument("--skip", nargs="*", default=["tutorialvqa-official-test-LEAKY:ccgs",
                                                  "tutorialvqa-official-test-LEAKY:cuespan"], metavar="DATASET:METHOD",
                    help="pairs not to run (default: the trained models on the leaky official split, whose test "
                         "videos they trained on)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.chdir(ROOT)
    ensure_data()
    args.runs.mkdir(parents=True, exist_ok=True)
    results = run_all(args.methods, args.k, args.runs.resolve(), args.reuse, args.limit, args.sample, args.seed,
                      args.checkpoint, args.skip)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(results, args.k, args.runs.resolve(), args.limit, args.sample, args.seed,
                               args.checkpoint, args.note), encoding="utf-8")
    logger.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
