"""Device run: the CCGS full recipe (whole transcripts, all 6 encoder layers, 8 questions a step) on one GPU,
then the shipped CPU checkpoint and the new one evaluated side by side in the same run.

    python3 scripts/gpu/train_eval.py OUT [--max-steps N] [--minutes M] [--limit Q] [--fused-only]

(through scripts/gpu/run.sh on the device machine). Evaluation is the trainer's own in-memory protocol
(``vcval.evaluation.runner.evaluate_corpus``: whole-transcript BM25 top 10 videos, then the localizer), so it
needs neither FAISS nor a corpus on disk. ``--fused-only``: the new model fused with the training-free baseline at
several weights instead of the side-by-side comparison. The checkpoint comes back in 15 MiB parts.
"""
import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vcval.evaluation.questions import load_questions, seeded_sample  # noqa: E402
from vcval.evaluation.runner import evaluate_corpus  # noqa: E402
from vcval.localization.ccgs import CCGSLocalizer  # noqa: E402
from vcval.training.datasets import load_transcripts  # noqa: E402
from vcval.training.trainer_ccgs import CCGSTrainer, TrainConfig  # noqa: E402

SETS = [("tvqa-dev", "data/tutorialvqa/dev.json", "data/tutorialvqa/transcripts", 200),
        ("tvqa-test", "data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", 300),
        ("medvidqa", "data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts", None),
        ("demo", "data/demo/questions.json", "data/demo/transcripts", None)]
WEIGHTS = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
KEYS = ["R@1", "MRR", "Rank@1 mIoU", "Rank@1 IoU=0.5", "Rank@10 mIoU"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--max-steps", type=int, default=1500)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--limit", type=int, default=0, help="questions per eval set (0 = the sets above)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--qps", type=int, default=8, help="questions per step")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast (CPU smoke test)")
    ap.add_argument("--fused-only", action="store_true", help="evaluate only the new model fused with the baseline")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = json.loads(Path("configs/ccgs_minilm.json").read_text())
    cfg["model"].update(trainable_encoder_layers=6, trained_on="TutorialVQA train videos (by-video split), text "
                        "only; full recipe on one GPU")
    run = Path("/tmp/ccgs_gpu")
    shutil.rmtree(run, ignore_errors=True)
    cfg.update(out_dir=str(run), device=args.device, pos_max_tokens=0, neg_max_tokens=0, questions_per_step=args.qps, bf16=not args.fp32,
               grad_accum=1, max_steps=args.max_steps, steps_per_epoch=max(1, args.max_steps // 4),
               max_minutes=args.minutes, warmup_steps=min(100, args.max_steps // 10), lr_encoder=5e-5, lr_head=1e-3,
               dev_limit=150 if not args.limit else args.limit, dev_k_videos=5, num_threads=8, log_every=25,
               save_every=10 ** 9)
    t0 = time.time()
    trainer = CCGSTrainer(TrainConfig(**cfg), progress=False)
    summary = trainer.train()
    train_s = time.time() - t0
    logging.info("trained %d steps in %.0f s; best dev %.2f", summary["step"], train_s, summary["best"])
    for name in ("log.jsonl", "train_config.json"):
        shutil.copy2(run / name, args.out / name)
    best = run / "best"
    (args.out / "ckpt").mkdir(exist_ok=True)
    for f in best.iterdir():  # at most 8 files come back: the model card stays behind
        if f.name != "README.md":
            shutil.copy2(f, args.out / "ckpt" / f.name)

    results = {"train_seconds": train_s, "steps": summary["step"], "history": summary["history"], "eval": {}}
    ckpt = (args.out / "ckpt" / "model.safetensors").read_bytes()
    part = 15 * 2 ** 20
    for i in range(0, len(ckpt), part):  # files of at most 16 MiB come back from the device
        (args.out / "ckpt" / f"model.safetensors.part{i // part}").write_bytes(ckpt[i:i + part])
    (args.out / "ckpt" / "model.safetensors").unlink()
    runs = [("shipped-cpu", "checkpoints", "pure", {"baseline_weight": 0.0, "keep_retriever_order": False}),
            ("shipped-cpu", "checkpoints", "served", {}),
            ("gpu-full", str(best), "pure", {"baseline_weight": 0.0, "keep_retriever_order": False}),
            ("gpu-full", str(best), "served", {})]
    if args.fused_only:
        runs = [("gpu-full", str(best), f"fused-bw{bw:g}", {"baseline_weight": bw, "keep_retriever_order": True})
                for bw in (1.0, 2.0, 4.0, 8.0)]
    eval_sets = []  # (key, questions, transcripts): read once, asked of every model and mode
    for key, qpath, tpath, n in SETS:
        tr = load_transcripts(tpath)
        qs = seeded_sample(load_questions(qpath), args.limit or n, 0)
        eval_sets.append((key, [q for q in qs if q.video_id in tr], tr))
    for label, path, mode, kw in runs:
        loc = CCGSLocalizer.from_pretrained(path, device=args.device, precision="fp32" if args.fp32 else "bf16",
                                            **kw)
        for key, qs, tr in eval_sets:
            t1 = time.time()
            res = evaluate_corpus(loc, qs, tr, k_videos=10, weights=WEIGHTS if mode == "pure" else [loc.retrieval_weight])
            row = {str(w): {k: round(m[k], 2) for k in KEYS} for w, m in res.metrics.items()}
            results["eval"][f"{label}|{mode}|{key}"] = {"n": len(qs), "s_per_q": res.seconds_per_question,
                                                        "metrics": row}
            logging.info("%s %s %s (%d q, %.1f s): %s", label, mode, key, len(qs), time.time() - t1,
                         json.dumps(row))
            (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
