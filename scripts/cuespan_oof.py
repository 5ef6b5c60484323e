#!/usr/bin/env python
"""Out-of-fold CueSpan: a selection set of 52 more videos than TutorialVQA dev's 8.

Every serving choice so far was read on TutorialVQA dev: 941 questions, but on only 8 videos, so its
by-video intervals are wide. Here the 52 by-video *train* videos are split into K folds (seeded, by video).
Each fold's model is trained with the shipped recipe (``configs/cuespan.json``: the same steps, seed and
step selection on dev) on the other folds' videos only, and then asked its own fold's questions through
the real pipeline (hybrid retrieval over all 76 TutorialVQA videos, top 10 to the localizer) with the
shipped serving settings (``checkpoints/cuespan/inference.json``) and with serving variants
(``scripts/cuespan_serving_ablations.py``'s). Every question is thus answered by a model that never saw
its video: the same situation as dev, over 52 videos instead of 8.

    .venv/bin/python scripts/cuespan_oof.py train --folds 0 1      # one process per pair of folds (2 cores)
    .venv/bin/python scripts/cuespan_oof.py train --folds 2 3
    .venv/bin/python scripts/cuespan_oof.py evaluate --variants shipped no_meta_edges fact_units_0 \\
        --per-fold 150 --out benchmarks/cuespan_oof.md
    # or one process per variant, then the table from their rows:
    .venv/bin/python scripts/cuespan_oof.py evaluate --variants shipped --per-fold 400 &
    .venv/bin/python scripts/cuespan_oof.py evaluate --variants hybrid_video_retriever --per-fold 400
    .venv/bin/python scripts/cuespan_oof.py evaluate --variants shipped hybrid_video_retriever --per-fold 400 --reuse

Models and per-question reports go to ``runs/oof/``. The test split and MedVidQA are not touched.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

logger = logging.getLogger("cuespan_oof")

TRAIN = ROOT / "data/tutorialvqa/train.json"
TRANSCRIPTS = ROOT / "data/tutorialvqa/transcripts"
OUT = ROOT / "runs/oof"


def fold_videos(rows: list[dict], k: int, seed: int) -> list[list[str]]:
    """The videos of the question ``rows`` in ``k`` folds (sorted ids, seeded shuffle, round robin)."""
    videos = sorted({r["video_id"] for r in rows})
    random.Random(seed).shuffle(videos)
    return [sorted(videos[i::k]) for i in range(k)]


def write_fold_files(k: int, seed: int) -> list[Path]:
    """runs/oof/fold<i>/{train,heldout}.json for every fold; returns the fold folders."""
    rows = json.loads(TRAIN.read_text(encoding="utf-8"))
    folders = []
    for i, held in enumerate(fold_videos(rows, k, seed)):
        folder = OUT / f"fold{i}"
        folder.mkdir(parents=True, exist_ok=True)
        held_set = set(held)
        (folder / "train.json").write_text(json.dumps([r for r in rows if r["video_id"] not in held_set]))
        (folder / "heldout.json").write_text(json.dumps([r for r in rows if r["video_id"] in held_set]))
        folders.append(folder)
    return folders


def train_folds(folds: list[int], k: int, seed: int, name: str = "model", overrides: dict | None = None) -> None:
    """Train the given folds' models (``runs/oof/fold<i>/<name>``) with the shipped recipe, or with recipe keys
    ``overrides`` (a recipe candidate; ``model`` is merged key by key); the shipped serving settings are copied
    next to each (so variants change one setting against the same serving as the shipped model)."""
    from vcval.training.trainer_cuespan import CueSpanTrainConfig, TrainingData, train

    folders = write_fold_files(k, seed)
    recipe = json.loads((ROOT / "configs/cuespan.json").read_text(encoding="utf-8"))
    overrides = dict(overrides or {})
    recipe["model"] = {**recipe.get("model", {}), **overrides.pop("model", {})}
    recipe.update(overrides)
    data = None
    for i in folds:
        folder = folders[i]
        cfg = CueSpanTrainConfig.from_dict({**recipe, "train": str(folder / "train.json"),
                                            "output": str(folder / name)})
        data = data or TrainingData(cfg.transcripts, cfg.features or None)
        summary = train(cfg, data)
        shutil.copy(ROOT / "checkpoints/cuespan/inference.json", folder / name / "best/inference.json")
        logger.info("fold %d: best dev mIoU %.2f at step %d, %d train videos, %.0f s", i, summary["best_dev_miou"],
                    summary["best_step"], summary["train_videos"], summary["train_s"])


def evaluate(variants: list[str], k: int, per_fold: int, out: Path, reuse: bool = False,
             names: tuple[str, ...] = ("model",)) -> None:
    """Ask each fold's held-out questions (a seeded sample of ``per_fold``) with each variant; write the table,
    paired intervals by question and by video, and the per-question rows (runs/oof/<run>__<per_fold>.json;
    ``reuse``: read those rows instead of asking again, so variants can run in parallel processes). ``names``:
    the fold models to ask (``train --name``); a run of a model other than "model" is reported as
    ``<name>:<variant>``."""
    from cuespan_serving_ablations import make_pipeline, paired_lines

    from vcval.evaluation import Evaluator

    runs = [(n, v, v if n == "model" else f"{n}:{v}") for n in names for v in variants]
    folds = [OUT / f"fold{i}" for i in range(k)]
    missing = [str(f / n) for f in folds for n in names if not (f / n / "best/model.safetensors").is_file()]
    if missing:
        raise SystemExit(f"train these fold models first: {missing}")

    def rows_path(label: str) -> Path:
        return OUT / f"{label.replace(':', '_')}__{per_fold}.json"

    per_question: dict[str, list[dict]] = {}
    todo = [r for r in runs if not (reuse and rows_path(r[2]).is_file())]
    for _, _, label in runs:
        per_question[label] = [] if any(label == t[2] for t in todo) else json.loads(
            rows_path(label).read_text(encoding="utf-8"))
    evaluator = Evaluator(TRANSCRIPTS, progress=False) if todo else None
    for i, folder in enumerate(folds):
        for name, variant, label in todo:
            report = evaluator.run(folder / "heldout.json", "cuespan", k=10,
                                   pipeline=make_pipeline(evaluator, variant, folder / name / "best"),
                                   sample=per_fold, seed=0)
            per_question[label] += report.per_question
            logger.info("fold %d %s: R@1 %.2f, Rank@1 mIoU %.2f", i, label, report.metrics["R@1"],
                        report.metrics["Rank@1 mIoU"])
    for _, _, label in todo:
        rows_path(label).write_text(json.dumps(per_question[label]))
    first = runs[0][2]
    n_videos = len({r["video_id"] for r in per_question[first]})
    lines = ["# Out-of-fold CueSpan: TutorialVQA train videos as a second selection set", "",
             f"`.venv/bin/python scripts/cuespan_oof.py evaluate --variants {' '.join(variants)} --per-fold "
             f"{per_fold}` (after `train` of the {k} folds; see the script's doc). The 52 by-video train videos in "
             f"{k} folds; each fold's model is trained with the shipped recipe on the other folds' videos (step "
             "chosen on dev as for the shipped model) and asked a seeded sample of its own fold's questions through "
             "the real pipeline (hybrid over all 76 videos, top 10). Serving: the shipped `inference.json`, one "
             "setting changed per variant.", "",
             "| model | fold | held-out videos | train questions | best step | dev mIoU (right video) |",
             "|---|---|---|---|---|---|"]
    for name in names:
        for i, folder in enumerate(folds):
            s = json.loads((folder / name / "best/training.json").read_text(encoding="utf-8"))
            held = json.loads((folder / "heldout.json").read_text(encoding="utf-8"))
            lines.append(f"| {name} | {i} | {len({r['video_id'] for r in held})} | {s['train_questions']} | "
                         f"{s['best_step']} | {s['best_dev_miou']:.2f} |")
    lines += ["", f"## {len(per_question[first])} questions on {n_videos} videos", "",
              "| run | R@1 | R1 mIoU | R1@.5 | len s | gold s |", "|---|---|---|---|---|---|"]
    for label, rows in per_question.items():
        r1 = 100 * statistics.mean(r["video_rank"] == 1 for r in rows)
        miou = 100 * statistics.mean(r["iou_at_1"] for r in rows)
        at50 = 100 * statistics.mean(r["iou_at_1"] >= 0.5 for r in rows)
        top_len = statistics.median(r["predictions"][0][2] - r["predictions"][0][1] for r in rows if r["predictions"])
        gold = statistics.median(r["gold"][1] - r["gold"][0] for r in rows)
        lines.append(f"| {label} | {r1:.2f} | {miou:.2f} | {at50:.2f} | {top_len:.1f} | {gold:.1f} |")
    lines.append("")
    if len(runs) > 1:
        lines += paired_lines(per_question)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train some folds' models")
    tr.add_argument("--folds", type=int, nargs="+", required=True)
    tr.add_argument("--name", default="model", help="the fold models' folder name (a recipe candidate's own)")
    tr.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                    help="recipe overrides, e.g. model='{\"contrastive_weight\": 4.0}' (merged into the recipe's model)")
    ev = sub.add_parser("evaluate", help="ask every fold's held-out questions with each serving variant")
    ev.add_argument("--variants", nargs="+", default=["shipped"])
    ev.add_argument("--per-fold", type=int, default=150, help="seeded sample of each fold's held-out questions")
    ev.add_argument("--out", type=Path, default=OUT / "report.md")
    ev.add_argument("--reuse", action="store_true", help="read the per-question rows of variants already asked")
    ev.add_argument("--names", nargs="+", default=["model"], help="fold models to ask (train --name)")
    for p in (tr, ev):
        p.add_argument("--k", type=int, default=4, help="number of folds")
        p.add_argument("--seed", type=int, default=2024, help="seed of the video split")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    if args.command == "train":
        overrides = {}
        for item in args.set:
            key, _, value = item.partition("=")
            overrides[key] = json.loads(value)
        train_folds(args.folds, args.k, args.seed, args.name, overrides)
    else:
        evaluate(args.variants, args.k, args.per_fold, args.out, args.reuse, tuple(args.names))


if __name__ == "__main__":
    main()
