#!/usr/bin/env python
"""Regenerate benchmarks/ccgs_ablations.md: CCGS fusion tuning, the paper's ablations, the visual check.

    .venv/bin/python scripts/ccgs_ablations.py                     # tune + ablations + visual (~2 h, 2 CPU cores)
    .venv/bin/python scripts/ccgs_ablations.py --parts tune        # fusion weights of the shipped checkpoint
    .venv/bin/python scripts/ccgs_ablations.py --parts ablations --steps 300 --variants full no_contrastive
    .venv/bin/python scripts/ccgs_ablations.py --parts visual      # cheap: re-render the file from the cache

Parts (results cached as JSON under runs/ccgs_ablations/; rerunning reuses them and resumes
interrupted training runs):
- tune: the checkpoint's inference weights (span prior, baseline fusion, retrieval fusion) chosen
  on TutorialVQA DEV questions through the real pipeline and written into its config.json.
- eval (optional): the checkpoint beside the hybrid baseline on the same test questions
  (benchmarks/RESULTS.md, made by scripts/make_results.py, is the official table).
- ablations: short training runs of the main recipe (configs/ccgs_minilm.json) that differ in one
  switch each (full / no contrastive loss / independent start-end heads / rotary off / [SEP]
  pooling / no question-aware head), scored on the same TutorialVQA dev questions (BM25 top
  --dev-k videos), with pure CCGS scores (no fusion).
- visual: the synthetic visual-only task (vcval.training.synthetic): fused vs text-only.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import random
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from vcval.evaluation import Evaluator, load_questions, metric_names  # noqa: E402
from vcval.localization.ccgs import INFERENCE_FILE, CCGSInference  # noqa: E402
from vcval.training.trainer_ccgs import CCGSTrainer, TrainConfig  # noqa: E402

logger = logging.getLogger("ccgs_ablations")
CACHE = ROOT / "runs" / "ccgs_ablations"
PRIOR_WEIGHTS = [0.0, 1.0]
BASELINE_WEIGHTS = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
RETRIEVER_ORDER = 1e6  # in the grid (and its cache keys): keep the retriever's video order
RETRIEVAL_WEIGHTS = [0.0, 16.0, RETRIEVER_ORDER]
VARIANTS = {
    "baseline": ({}, "training-free baseline localizer (vcval.localization.baseline), for scale"),
    "full": ({}, "the main recipe"),
    "no_contrastive": ({"contrastive_weight": 0.0}, "Loss1 only (no cross-video contrastive Loss2)"),
    "independent_heads": ({"span_head": "independent"}, "start/end heads instead of the global-span matrix"),
    "rotary_off": ({"use_rotary": False}, "global span matrix without rotary positions"),
    "sep_pooling": ({"cue_pooling": "sep"}, "cue vector = its closing [SEP] instead of the token mean"),
    "no_question_head": ({"question_aware_head": False}, "span head without the cue * question input (the paper's head)"),
}
EVAL_SETS = [
    ("tutorialvqa-test-by-video", "data/tutorialvqa/test.json", "data/tutorialvqa/transcripts"),
    ("medvidqa-with-transcripts", "data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts"),
]


def cached(name: str, fn):
    path = CACHE / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    result = fn()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


# ----------------------------------------------------------------------------- eval
def run_eval(args) -> dict:
    out = {}
    for key, qpath, tdir in EVAL_SETS:
        questions = load_questions(ROOT / qpath)
        limit = args.test_limit if key.startswith("tutorialvqa") else 0
        if 0 < limit < len(questions):
            questions = sorted(random.Random(args.seed).sample(questions, limit), key=lambda q: str(q.sample_id))
        evaluator = Evaluator(ROOT / tdir)
        rows = {}
        for method in ("hybrid", "ccgs"):
            def go(method=method, evaluator=evaluator, questions=questions, key=key):
                kw = {"n_videos": args.n_videos, "device": "cpu"}
                if method == "ccgs":
                    kw["checkpoint"] = str(args.checkpoint)
                report = evaluator.run(questions, method, k=100, dataset=key, pipeline_kwargs=kw)
                return {"metrics": report.metrics, "seconds_per_question": report.seconds_per_question,
                        "n_questions": report.n_questions, "corpus_size": report.corpus_size}
            tag = f"eval__{key}__{method}__n{len(questions)}__v{args.n_videos}"
            if method == "ccgs":
                tag += f"__{checkpoint_tag(args.checkpoint)}"
            rows[method] = cached(tag, go)
            logger.info("%s %s: %s", key, method, {k: round(v, 2) for k, v in rows[method]["metrics"].items()})
        out[key] = rows
    return out


# ----------------------------------------------------------------------------- tune
def run_tune(args) -> dict:
    """Pick the retrieval-fusion and span-prior weights on TutorialVQA DEV questions through the real
    pipeline (hybrid retrieval over all 76 videos, top --n-videos) and write them into the checkpoint
    config. The hybrid baseline on the same questions is scored too, for scale."""
    from vcval.evaluation.metrics import compute_all
    from vcval.pipeline import build_pipeline

    def go():
        base = TrainConfig.from_json(ROOT / args.config)
        questions = load_questions(ROOT / base.dev_questions)
        questions = sorted(random.Random(args.seed).sample(questions, min(args.tune_limit, len(questions))),
                           key=lambda q: str(q.sample_id))
        evaluator = Evaluator(ROOT / base.dev_transcripts)
        pipe = build_pipeline(evaluator.corpus, "ccgs", checkpoint=str(args.checkpoint), n_videos=args.n_videos, device="cpu")
        loc = pipe.localizer  # its .baseline is the hybrid pipeline's localizer, sharing one cue-vector cache
        grid = [(p, b, r) for p in PRIOR_WEIGHTS for b in BASELINE_WEIGHTS for r in RETRIEVAL_WEIGHTS]
        preds = {cell: [] for cell in grid}
        base_preds = []
        for q in tqdm(questions, desc="tune (dev)", mininterval=30):
            cands = pipe.candidates(q.question)
            matrices = loc.score_matrices(q.question, cands)
            base_matrices = loc.baseline_matrices(q.question, cands)
            for p in PRIOR_WEIGHTS:
                for b in BASELINE_WEIGHTS:
                    spans = loc.spans_from_matrices(cands, matrices, prior_weight=p, baseline_matrices=base_matrices,
                                                    baseline_weight=b)
                    for r in RETRIEVAL_WEIGHTS:
                        preds[(p, b, r)].append(loc.rank(cands, spans, 100, retrieval_weight=0.0 if r >= RETRIEVER_ORDER else r,
                                                         keep_retriever_order=r >= RETRIEVER_ORDER))
            base_preds.append(loc.baseline.localize(q.question, cands, 100))
        golds = [q.gold for q in questions]
        return {"n_questions": len(questions),
                "baseline": compute_all(base_preds, golds),
                "grid": [{"prior_weight": p, "baseline_weight": b, "retrieval_weight": r,
                          "metrics": compute_all(preds[(p, b, r)], golds)} for p, b, r in grid]}

    weights_hash = "weights-" + hashlib.sha1((Path(args.checkpoint) / "model.safetensors").read_bytes()).hexdigest()[:8]
    res = with_best_weights(cached(f"tune3__{weights_hash}__n{args.tune_limit}__v{args.n_videos}", go))
    best = res["best"]
    order = best["retrieval_weight"] >= RETRIEVER_ORDER
    settings = CCGSInference(keep_retriever_order=order, retrieval_weight=0.0 if order else best["retrieval_weight"],
                             prior_weight=best["prior_weight"], baseline_weight=best["baseline_weight"])
    settings.to_json(Path(args.checkpoint) / INFERENCE_FILE)
    logger.info("wrote %s into %s", settings, Path(args.checkpoint) / INFERENCE_FILE)
    return res


def with_best_weights(tune: dict) -> dict:
    """``tune`` with "best": the grid cell with the highest dev Rank@1 mIoU (ties: MRR)."""
    best = max(tune["grid"], key=lambda c: (c["metrics"]["Rank@1 mIoU"], c["metrics"]["MRR"]))
    return {**tune, "best": {k: best[k] for k in ("prior_weight", "baseline_weight", "retrieval_weight")}}


# ----------------------------------------------------------------------------- ablations
def run_ablations(args, steps: int) -> None:
    """Train and score each of ``args.variants`` for ``steps`` steps (plus the baseline), into the cache."""
    base = TrainConfig.from_json(ROOT / args.config)
    run_dev_baseline(args)
    for name in args.variants:
        overrides, _ = VARIANTS[name]
        def go(name=name, overrides=overrides):
            data = ablation_recipe(base, args, steps)
            data.update(out_dir=str(CACHE / f"run_{name}_s{steps}"))
            data["model"] = {**data["model"], **overrides}
            t0 = time.monotonic()
            trainer = CCGSTrainer(TrainConfig(**data), progress=not args.no_progress)
            trainer.train()
            last = trainer.history[-1]["eval"]
            return {"metrics": last["weights"]["0.0"], "steps": trainer.step, "train_minutes": (time.monotonic() - t0) / 60,
                    "seconds_per_question": last["seconds_per_question"]}
        row = cached(ablation_key(name, base, args, steps), go)
        logger.info("ablation %s (%d steps): Rank@1 mIoU %.2f", name, steps, row["metrics"]["Rank@1 mIoU"])


def ablation_recipe(base: TrainConfig, args, steps: int) -> dict:
    """The main recipe cut down to a short CPU run: fewer steps, smaller excerpts, fewer negatives."""
    data = asdict(base)
    data.update(max_steps=steps, steps_per_epoch=steps, max_minutes=0, dev_limit=args.dev_limit,
                dev_k_videos=args.dev_k, dev_weights=[0.0], warmup_steps=min(base.warmup_steps, max(1, steps // 10)),
                pos_max_tokens=args.pos_tokens, neg_max_tokens=args.neg_tokens, n_hard=args.n_hard,
                n_random=args.n_random)
    return data


def recipe_tag(base: TrainConfig, args, steps: int) -> str:
    """Short hash of the ablation recipe (cache keys change when it changes)."""
    data = ablation_recipe(base, args, steps)
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


def ablation_key(name: str, base: TrainConfig, args, steps: int) -> str:
    """Cache name of one ablation run (the training-free baseline does not depend on the recipe)."""
    if name == "baseline":
        return f"ablation__baseline__d{args.dev_limit}__k{args.dev_k}"
    return f"ablation__{name}__{recipe_tag(base, args, steps)}__s{steps}__d{args.dev_limit}__k{args.dev_k}"


def checkpoint_tag(path: Path) -> str:
    """Directory name + short hash of the weights and config (cache keys change with the checkpoint)."""
    h = hashlib.sha1((Path(path) / "model.safetensors").read_bytes())
    h.update((Path(path) / "config.json").read_bytes())
    return f"{Path(path).resolve().name}-{h.hexdigest()[:8]}"


def run_dev_baseline(args) -> dict:
    """The training-free baseline localizer on the same dev questions and BM25 candidates as the ablations."""
    from vcval.encoders import TextEncoder
    from vcval.evaluation.metrics import compute_all
    from vcval.evaluation.questions import load_questions as load_qa
    from vcval.evaluation.runner import make_candidates
    from vcval.localization.baseline import BaselineLocalizer
    from vcval.retrieval import TranscriptBM25
    from vcval.training.datasets import load_transcripts, split_examples

    base = TrainConfig.from_json(ROOT / args.config)

    def go():
        dev = load_qa(ROOT / base.dev_questions)
        tr = load_transcripts(ROOT / base.dev_transcripts, {q.video_id for q in dev})
        qs = split_examples([q for q in dev if q.video_id in tr], args.dev_limit, base.seed)
        hits = TranscriptBM25(tr).search([q.question for q in qs], args.dev_k)
        loc = BaselineLocalizer(TextEncoder.load(device="cpu").encode)
        t0 = time.perf_counter()
        preds = [loc.localize(q.question, make_candidates(tr, h), 100) for q, h in zip(qs, hits)]
        sec = (time.perf_counter() - t0) / len(qs)
        return {"metrics": compute_all(preds, [q.gold for q in qs]),
                "steps": 0, "train_minutes": 0.0, "seconds_per_question": sec}
    return cached(f"ablation__baseline__d{args.dev_limit}__k{args.dev_k}", go)


def run_visual(args) -> dict:
    from vcval.training.synthetic import train_and_score

    def go():
        seeds = [0, 1, 2]
        return {"fused": [train_and_score(True, seed=s) for s in seeds],
                "text_only": [train_and_score(False, seed=s) for s in seeds], "seeds": seeds}
    return cached("visual_synthetic", go)


# ----------------------------------------------------------------------------- report
def fmt(x: float) -> str:
    return f"{x:.2f}"


def table(rows: list[tuple[str, dict]], extra: list[str] | None = None) -> list[str]:
    names = metric_names()
    head = ["method", *names, *(extra or [])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in rows:
        vals = [fmt(r["metrics"][n]) for n in names]
        if extra:
            vals += [r["_extra"][e] for e in extra]
        lines.append("| " + " | ".join([label, *vals]) + " |")
    return lines


def render(args, tune: dict | None, evals: dict | None, ablations: dict | None, visual: dict | None) -> str:
    ck = Path(args.checkpoint)
    cfg = json.loads((ck / "config.json").read_text()) if (ck / "config.json").exists() else {}
    size = (ck / "model.safetensors").stat().st_size / 2**20 if (ck / "model.safetensors").exists() else 0
    lines = [
        "# CCGS: evaluation and ablations",
        "",
        f"Regenerate with `.venv/bin/python scripts/ccgs_ablations.py` (this file was written "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; CPU: {platform.processor() or platform.machine()}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, on a machine shared with other jobs: "
        "timings are upper bounds). All metrics are percentages (see `vcval.evaluation.metrics`).",
        "",
        f"Checkpoint `{ck.resolve().relative_to(ROOT) if ck.resolve().is_relative_to(ROOT) else ck}`: {size:.1f} MiB; trained on: {cfg.get('trained_on', '?')}.",
        "",
    ]
    if tune:
        best = tune["best"]
        lines += ["## Fusion weights (tuned on TutorialVQA dev only)", "",
                  f"{tune['n_questions']} dev questions through the real pipeline (hybrid retrieval over all 76 videos, "
                  f"top {args.n_videos}). Answer score = CCGS span score + p * log SpanPrior(span) "
                  "(answer length/position prior fitted to the MedVidQA train annotations) + b * the training-free "
                  "baseline localizer's span score + r * min-max-normalised "
                  "retrieval score (r = 1e6: the video order is the retriever's). Chosen by Rank@1 mIoU: "
                  f"p = {best['prior_weight']:g}, b = {best['baseline_weight']:g}, r = {best['retrieval_weight']:g} "
                  "(written to the checkpoint's config.json). "
                  f"The training-free hybrid baseline on the same questions: R@1 {fmt(tune['baseline']['R@1'])}, "
                  f"Rank@1 mIoU {fmt(tune['baseline']['Rank@1 mIoU'])}, Rank@10 mIoU {fmt(tune['baseline']['Rank@10 mIoU'])}.", "",
                  "| p | b | r | R@1 | MRR | Rank@1 mIoU | Rank@10 mIoU |", "|---|---|---|---|---|---|---|"]
        for c in tune["grid"]:
            m = c["metrics"]
            lines.append(f"| {c['prior_weight']:g} | {c['baseline_weight']:g} | {c['retrieval_weight']:g} | {fmt(m['R@1'])} | {fmt(m['MRR'])} | "
                         f"{fmt(m['Rank@1 mIoU'])} | {fmt(m['Rank@10 mIoU'])} |")
        lines.append("")
    if evals:
        lines += ["## CCGS beside the hybrid baseline (same questions, same retrieval)", "",
                  f"Pipeline: hybrid retrieval (BM25 + dense over cue windows) over the WHOLE corpus, top "
                  f"{args.n_videos} videos handed to the localizer, k = 100 answers. `hybrid` = the training-free "
                  "baseline localizer; `ccgs` = the CCGS localizer (its video ranking = each video's best span, "
                  "fused with the retrieval score by the weight chosen on dev).", ""]
        for key, rows in evals.items():
            any_row = next(iter(rows.values()))
            lines += [f"### {key}: {any_row['n_questions']} questions, corpus of {any_row['corpus_size']} videos", ""]
            trs = []
            for m, r in rows.items():
                r["_extra"] = {"s/question": f"{r['seconds_per_question']:.2f}"}
                trs.append((m, r))
            lines += table(trs, ["s/question"]) + [""]
        lines += [f"TutorialVQA test rows use a fixed random subset (seed {args.seed}) of the by-video test split "
                  "(its 16 videos were never trained on); the corpus holds all 76 TutorialVQA videos, as in "
                  "benchmarks/RESULTS.md. MedVidQA: every question whose video has a transcript (YouTube "
                  "captions, a different domain: the model never saw medical data).", ""]
    if ablations:
        lines += ["## Ablations (TutorialVQA dev videos, short runs)", "",
                  f"Each row is its own training run of the main recipe (`{args.config}`), cut to a CPU-sized run "
                  f"(1 question + {args.n_hard} hard + {args.n_random} random negatives per step, positive cut to "
                  f"{args.pos_tokens} and negatives to {args.neg_tokens} tokens, same seed, same data order), "
                  "changed in ONE switch; scored on "
                  f"{args.dev_limit} dev questions with BM25 top-{args.dev_k} dev videos, pure CCGS scores (no baseline "
                  "or retrieval fusion). These runs are far shorter than the paper's; differences of a few points are "
                  f"within noise (one question = {100 / max(1, args.dev_limit):.1f} points of an IoU-threshold metric).", ""]
        for steps, runs in ablations.items():
            lines += [f"### {steps} training steps", ""]
            rows = []
            for name, r in runs.items():
                r["_extra"] = {"change": VARIANTS[name][1], "train min": f"{r['train_minutes']:.0f}"}
                rows.append((name, r))
            lines += table(rows, ["change", "train min"]) + [""]
            missing = [n for n in VARIANTS if n not in runs]
            if missing:
                lines += [f"Not run at {steps} steps (no cached result): " + ", ".join(
                    f"`{n}` ({VARIANTS[n][1]})" for n in missing) + f". Run `.venv/bin/python scripts/ccgs_ablations.py "
                    f"--parts ablations --steps {steps} --variants {' '.join(missing)}` to add them.", ""]
        lines += ["Without cross-modal fusion (text only): on these data it is the `full` row itself, because no visual "
                  "features exist for TutorialVQA or MedVidQA here; the visual branch is measured on the synthetic "
                  "task in the next section.", ""]
    if visual:
        f, t = visual["fused"], visual["text_only"]
        lines += ["## Cross-modal fusion: is the visual branch used?", "",
                  "TutorialVQA and MedVidQA come without visual features here, so fused-vs-text-only is measured on "
                  "the synthetic task of `vcval.training.synthetic` (every cue has the same text; only a marker in the "
                  "visual features shows where the answer is). Exact-span accuracy on 48 held-out videos, tiny model, "
                  "30 steps, seeds " + ", ".join(map(str, visual["seeds"])) + ":", "",
                  "| model | accuracy per seed | mean |", "|---|---|---|",
                  f"| fused (visual branch on) | {', '.join(fmt(100 * x) for x in f)} | {fmt(100 * sum(f) / len(f))} |",
                  f"| text-only ablation | {', '.join(fmt(100 * x) for x in t)} | {fmt(100 * sum(t) / len(t))} |", "",
                  "Chance for a text-only model is about 1/6 (it can only learn a position prior).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", nargs="+", default=["tune", "ablations", "visual"],
                    choices=["tune", "eval", "ablations", "visual"],
                    help="eval (CCGS vs the baseline on test sets) is optional: benchmarks/RESULTS.md holds those rows")
    ap.add_argument("--checkpoint", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--config", default="configs/ccgs_minilm.json")
    ap.add_argument("--variants", nargs="+", default=[v for v in VARIANTS if v != "baseline"],
                    choices=[v for v in VARIANTS if v != "baseline"])
    ap.add_argument("--steps", type=int, nargs="+", default=[100],
                    help="ablation run lengths (each rendered as its own table)")
    ap.add_argument("--dev-limit", type=int, default=60)
    ap.add_argument("--pos-tokens", type=int, default=256, help="ablation runs: positive excerpt length")
    ap.add_argument("--neg-tokens", type=int, default=128, help="ablation runs: negative excerpt length")
    ap.add_argument("--n-hard", type=int, default=1, help="ablation runs: hard negatives per question")
    ap.add_argument("--n-random", type=int, default=1, help="ablation runs: random negatives per question")
    ap.add_argument("--dev-k", type=int, default=3)
    ap.add_argument("--test-limit", type=int, default=120)
    ap.add_argument("--tune-limit", type=int, default=100)
    ap.add_argument("--n-videos", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ccgs_ablations.md")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    tune = run_tune(args) if "tune" in args.parts else None
    evals = run_eval(args) if "eval" in args.parts else None
    if "ablations" in args.parts:
        for steps in args.steps:
            run_ablations(args, steps)  # rendered below from the cache, with earlier runs
    visual = run_visual(args) if "visual" in args.parts else None
    if "eval" not in args.parts:  # keep whatever is cached
        evals = _cached_evals(args)
    ablations = _cached_ablations(args)  # every run of this recipe in the cache, not only this call's
    if tune is None:
        hits = sorted(CACHE.glob(f"tune3__*__v{args.n_videos}.json"))
        tune = with_best_weights(json.loads(hits[-1].read_text())) if hits else None
    if "visual" not in args.parts and (CACHE / "visual_synthetic.json").exists():
        visual = json.loads((CACHE / "visual_synthetic.json").read_text())
    args.out.write_text(render(args, tune, evals, ablations, visual), encoding="utf-8")
    logger.info("wrote %s", args.out)
    return 0


def _cached_ablations(args) -> dict[int, dict] | None:
    """{steps: {variant: cached row}} for every step count run with this recipe, rows in VARIANTS order."""
    base = TrainConfig.from_json(ROOT / args.config)
    counts = {int(m.group(1)) for f in CACHE.glob(f"ablation__*__s*__d{args.dev_limit}__k{args.dev_k}.json")
              if (m := re.search(r"__s(\d+)__d", f.name))}
    out = {}
    for steps in sorted(counts):
        rows = {n: CACHE / f"{ablation_key(n, base, args, steps)}.json" for n in VARIANTS}
        rows = {n: json.loads(f.read_text()) for n, f in rows.items() if f.exists()}
        if set(rows) - {"baseline"}:
            out[steps] = rows
    return out or None


def _cached_evals(args) -> dict | None:
    out = {}
    for key, _, _ in EVAL_SETS:
        rows = {}
        for method in ("hybrid", "ccgs"):
            suffix = f"__{checkpoint_tag(args.checkpoint)}" if method == "ccgs" else ""
            hits = sorted(CACHE.glob(f"eval__{key}__{method}__*__v{args.n_videos}{suffix}.json"))
            if hits:
                rows[method] = json.loads(hits[-1].read_text())
        if rows:
            out[key] = rows
    return out or None


if __name__ == "__main__":
    raise SystemExit(main())
