#!/usr/bin/env python
"""Write benchmarks/cuespan.md: how the shipped CueSpan checkpoint was trained, its learning curve,
serving settings and dev calibration, from the files training wrote.

    .venv/bin/python scripts/make_cuespan_report.py [--run runs/cuespan] [--checkpoint checkpoints/cuespan]

Reads ``<run>/curve.csv`` (dev metric vs step), ``<checkpoint>/training.json``,
``<checkpoint>/inference.json`` and ``<checkpoint>/calibration.json``; copies the curve to
``benchmarks/cuespan_curve.csv``. Nothing here is measured anew: the numbers are the training run's.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BARS = " ▁▂▃▄▅▆▇█"


def spark(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return "".join(BARS[int(round((v - lo) / max(hi - lo, 1e-9) * (len(BARS) - 1)))] for v in values)


def target_text(inference: dict) -> str:
    """The served answer-length target in words (fixed seconds, or a power law of the video's duration)."""
    median, exponent = inference.get("target_length_median_s"), inference.get("target_length_exponent") or 0.0
    if not median:
        return "no target (the training lengths as learned)"
    if exponent and inference.get("target_reference_duration_s"):
        return (f"{median} s x (duration / {inference['target_reference_duration_s']} s)^{exponent} "
                "(longer videos, longer answers)")
    return f"{median} s"


def answer_shares(recipe: dict) -> str:
    """Median answer share of the video in the recipe's training questions and in the MedVidQA priors."""
    import statistics

    from vcval.evaluation.questions import load_questions

    parts = []
    train = ROOT / recipe.get("train", "")
    if train.is_file():
        shares = [(q.end - q.start) / q.video_length for q in load_questions(train) if q.video_length]
        parts.append(f"{100 * statistics.median(shares):.1f}% in the training questions")
    priors = ROOT / (recipe.get("length_prior") or "data/medvidqa/priors.json")
    if priors.is_file():
        fit = json.loads(priors.read_text())["answer_length_fraction"]
        parts.append(f"{100 * fit['p50']:.1f}% in the {fit['count']:,} MedVidQA train annotations")
    return " and ".join(parts) or "not measured here: the data files are missing"


def length_text(inference: dict, cal: dict, model_cfg: dict, recipe: dict) -> str:
    """The serving-length line: the model's length bias unit and the served tilt, if any."""
    if model_cfg.get("length_unit") == "fraction" and not inference.get("target_length_median_s"):
        return ("- Answer length: the model's length bias reads a span's share of the video, not its seconds "
                f"(median answer share: {answer_shares(recipe)}), so no length tilt is served.")
    return (f"- Length tilt: training answers median {inference['source_length_median_s']} s (log-sigma "
            f"{inference['length_log_sigma']}); served towards " + target_text(inference)
            + " (fitted to the 2,710 MedVidQA train annotations). Dev Rank@1 "
            f"mIoU without / with the tilt: {cal.get('dev_rank1_miou_without_length_shift', float('nan')):.2f} / "
            f"{cal.get('dev_rank1_miou_with_length_shift', float('nan')):.2f} (the cost on the source domain).")


def tower_lines(checkpoint: Path, recipe: dict) -> list[str]:
    """The report's lines on the checkpoint's own question encoder (``question_layers``), if it has one."""
    delta = checkpoint / "question_tower" / "delta.safetensors"
    if not delta.is_file():
        return []
    lines = [f"- Question encoder: the packaged MiniLM with its top {recipe.get('question_layers')} layers trained with "
             f"the head (lr {recipe.get('question_lr')}); shipped as an fp16 delta "
             f"`checkpoints/cuespan/question_tower/delta.safetensors` ({delta.stat().st_size / 1e6:.2f} MB). Units keep "
             "the packaged encoder's stored vectors; retrieval keeps the packaged encoder too."]
    if recipe.get("title_prob"):
        lines.append(f"- Topic augmentation: {recipe['title_prob']:.0%} of the training questions asked restating "
                     "their video's title (`title_prob`; `dev titled mIoU` in the curve is the `titled` probe of "
                     "`scripts/cuespan_probes.py`).")
    if recipe.get("long_prob"):
        lines.append(f"- Long-video augmentation: {recipe['long_prob']:.0%} of the training questions have their "
                     f"video played among {recipe.get('long_around', 2)} other training videos as one long video "
                     "(`long_prob`, `long_around`; each row is then cropped to the recipe's `crop` units around "
                     "the answer, as every row).")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, default=ROOT / "runs/cuespan")
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints/cuespan")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/cuespan.md")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.run / "curve.csv")))
    shutil.copyfile(args.run / "curve.csv", ROOT / "benchmarks/cuespan_curve.csv")
    training = json.loads((args.checkpoint / "training.json").read_text())
    inference = json.loads((args.checkpoint / "inference.json").read_text())
    cal = json.loads((args.checkpoint / "calibration.json").read_text())
    model_cfg = json.loads((args.checkpoint / "config.json").read_text())
    recipe = training["recipe"]
    miou = [float(r["dev_miou"]) for r in rows]
    size = (args.checkpoint / "model.safetensors").stat().st_size
    out = [
        "# CueSpan: the default localizer's training, settings and calibration",
        "",
        "Generated by `scripts/make_cuespan_report.py` from the training run's own files; do not edit by hand.",
        "",
        "## Training",
        "",
        f"- Command: `vcval train cuespan --config configs/cuespan.json` (seed {recipe['seed']}, "
        f"{recipe['threads']} torch thread, {recipe['steps']} steps of {recipe['batch']} questions, each with its "
        f"video + {recipe['hard_negatives']} BM25-hard + {recipe['random_negatives']} random negative videos).",
        f"- Data: {training['train_questions']} questions of the {training['train_videos']} TutorialVQA by-video "
        "TRAIN videos (`data/tutorialvqa/train.json`, Photoshop tutorials; licence in "
        "/work/shared/data/README.md). Not PsTuts-VQA (its licence is non-commercial) and never the 29 MedVidQA "
        "transcripts or any MedVidQA test data. Dev: the TutorialVQA by-video dev videos.",
        f"- Model: {training['params']:,} parameters over the frozen packaged all-MiniLM-L6-v2 unit encodings; "
        f"shipped as fp16 `checkpoints/cuespan/model.safetensors` ({size / 1e6:.2f} MB).",
        *tower_lines(args.checkpoint, recipe),
        f"- Training time: {training['train_s']:.0f} s of CPU (2 shared cores); best dev step "
        f"{training['best_step']} (dev mIoU {training['best_dev_miou']:.2f}, kept as the checkpoint).",
        "",
        "## Learning curve (dev mIoU of the best span inside the right video, every "
        f"{recipe['eval_every']} steps)",
        "",
        f"`{spark(miou)}` ({min(miou):.1f} to {max(miou):.1f}); full table in `benchmarks/cuespan_curve.csv`.",
        "",
        "| step | train s | Loss1 | Loss2 | dev mIoU | dev IoU>=0.5 | dev median span s |",
        "|---|---|---|---|---|---|---|",
        *[f"| {r['step']} | {r['train_s']} | {r['loss1']} | {r['loss2']} | {r['dev_miou']} | {r['dev_iou50']} | "
          f"{r['dev_median_len_s']} |" for r in rows],
        "",
        "## Serving settings (`checkpoints/cuespan/inference.json`, chosen on dev)",
        "",
        f"- Retriever: `{inference['retriever']}`; spans ranked across videos by span score - "
        f"{inference['retrieval_weight']} x log(1 + retrieval rank) (dev Rank@1 mIoU by weight: "
        + ", ".join(f"{w}: {v:.2f}" for w, v in cal["dev_rank1_miou_by_retrieval_weight"].items()) + ").",
        length_text(inference, cal, model_cfg, recipe),
        f"- Clips start {inference['lead_in_s']} s before the answer.",
        "",
        "## Confidence calibration (dev)",
        "",
        "Target: the answer is right (right video and IoU >= 0.5). Fitted (logistic regression, "
        f"features {', '.join(cal['coef'])}) on the top-3 answers of {cal['n']['real']} dev questions, the same "
        f"questions with their video removed from the corpus ({cal['n']['near_miss']} near-miss) and "
        f"{cal['n']['off_topic']} off-topic questions (MedVidQA train questions of videos not in any corpus here). "
        f"Threshold {inference['threshold']:.3f}: the best balanced accuracy between real questions whose top "
        "answer is the right video and questions without an answer in the corpus.",
        "",
        f"- ECE (rank-1 answers, in-sample dev): {cal['ece_rank1']:.3f}; all answers: {cal['ece_all_answers']:.3f}",
        f"- Dev at the threshold: accepts {100 * cal['accept_real_right_video']:.1f}% of real questions whose top "
        f"video is right ({100 * cal['accept_real_all']:.1f}% of all real ones), refuses "
        f"{100 * cal['refuse_near_miss']:.1f}% of near-miss"
        + (f" and {100 * cal['refuse_off_topic']:.1f}% of off-topic questions." if cal.get("refuse_off_topic")
           is not None else "."),
        "",
        "| confidence bin | answers | mean confidence | accuracy |",
        "|---|---|---|---|",
        *[f"| {r['bin']} | {r['n']} | {r['confidence']:.3f} | {r['accuracy']:.3f} |" for r in cal["reliability_rank1"]],
        "",
        *video_calibration_text(cal),
        "Held-out refusal numbers (demo corpus and TutorialVQA with question sets written for the purpose) are "
        "in `benchmarks/refusal.md` (`benchmarks/bench_refusal.py`).",
        "",
    ]
    args.out.write_text("\n".join(out))
    print(f"wrote {args.out}")


def video_calibration_text(cal: dict) -> list[str]:
    """The second calibration's section (checkpoints calibrated since 2026-12-03), [] for older reports."""
    if "video_reliability_rank1" not in cal:
        return []
    return [
        "### Video confidence",
        "",
        "Target: the answer's video is the right one (whatever the span); the same features, answers and "
        "questions, served as max(video probability, span confidence). "
        f"ECE (rank-1, in-sample dev): {cal['video_ece_rank1']:.3f}; all answers: {cal['video_ece_all_answers']:.3f}. "
        "Gating on it instead of on `confidence` would reach a dev balanced accuracy of "
        f"{cal['balanced_accuracy_if_gated_on_video_confidence']:.3f} (against {cal['balanced_accuracy']:.3f}); "
        "reported only: the shipped gate is on `confidence`.",
        "",
        "| video confidence bin | answers | mean video confidence | right video |",
        "|---|---|---|---|",
        *[f"| {r['bin']} | {r['n']} | {r['confidence']:.3f} | {r['accuracy']:.3f} |"
          for r in cal["video_reliability_rank1"]],
        "",
    ]


if __name__ == "__main__":
    main()
