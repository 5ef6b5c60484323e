#!/usr/bin/env python
"""Train the CueSpan head on TutorialVQA (split by video) over cached MiniLM unit embeddings.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python scripts/proto_train_cuespan.py --run main

Caches unit / question embeddings under data/cache/, trains with seeded AdamW (negatives per
question: BM25-hard train videos + random train videos), evaluates dev oracle mIoU every
--eval-every steps, writes data/cuespan/<run>/{curve.csv, model.safetensors, config.json, summary.json}
(the best dev checkpoint).
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import time

import numpy as np
import torch
from proto_cuespan_data import ROOT, BM25Index, load_corpus, load_questions, make_batch, predict_pairs, span_iou

from vcval.models.cuespan import CueSpanConfig, CueSpanModel


def dev_eval(model, qs, corpus) -> dict:
    preds = predict_pairs(model, [(q, corpus.videos[q.vid]) for q in qs], corpus)
    ious, lens = [], []
    for q, (i, j, _) in zip(qs, preds):
        v = corpus.videos[q.vid]
        s, e = v.units[i].start, v.units[j].end
        ious.append(span_iou(s, e, q.start, q.end))
        lens.append(e - s)
    ious = np.array(ious)
    return {"miou": float(ious.mean()), "iou50": float((ious >= 0.5).mean()), "med_len": float(np.median(lens))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="main")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hard", type=int, default=2, help="BM25-hard negative videos per question")
    ap.add_argument("--random", type=int, default=1, help="random negative videos per question")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.01)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="1 is fastest on a busy 2-core box")
    ap.add_argument("--crop", type=int, default=64, help="train-time window of units per video")
    ap.add_argument("--config", default="{}", help="JSON overrides of CueSpanConfig")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    corpus = load_corpus("tutorialvqa")
    train = load_questions(ROOT / "data/tutorialvqa/train.json", corpus)
    dev = load_questions(ROOT / "data/tutorialvqa/dev.json", corpus)
    train_vids = sorted({q.vid for q in train})
    bm = BM25Index([corpus.videos[v] for v in train_vids])
    hard_pool = {}
    for q, res in zip(train, bm.search([q.text for q in train], k=8)):
        hard_pool[q.qid] = [vid for vid, _ in res if vid != q.vid][:5]

    cfg = CueSpanConfig.from_dict({**CueSpanConfig().to_dict(), **json.loads(args.config)})
    model = CueSpanModel(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.wd)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * max(0.05, 0.5 * (1 + np.cos(np.pi * s / args.steps)))
    )
    out = ROOT / "data/cuespan" / args.run
    out.mkdir(parents=True, exist_ok=True)
    print(f"run={args.run} params={n_params} train={len(train)} dev={len(dev)} cfg={cfg.to_dict()}", flush=True)

    rng = random.Random(args.seed)
    order: list = []
    curve = []
    best = -1.0
    t0 = time.time()
    train_time = 0.0
    run_loss = []
    for step in range(1, args.steps + 1):
        ts = time.time()
        model.train()
        if len(order) < args.batch:
            order = train[:]
            rng.shuffle(order)
        qs, order = order[: args.batch], order[args.batch :]
        pairs = []
        for g, q in enumerate(qs):
            pairs.append((q, corpus.videos[q.vid], True, g))
            negs = rng.sample(hard_pool[q.qid], min(args.hard, len(hard_pool[q.qid])))
            others = [v for v in train_vids if v != q.vid and v not in negs]
            negs += rng.sample(others, args.random)
            pairs += [(q, corpus.videos[v], False, g) for v in negs]
        if cfg.contrastive_weight == 0:
            pairs = [p for p in pairs if p[2]]
        bt = make_batch(pairs, corpus, cfg.max_span_cues, crop=args.crop, rng=rng)
        o = model(**bt, return_full=False)
        opt.zero_grad()
        o.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        train_time += time.time() - ts
        run_loss.append((float(o.loss1.detach()), float(o.loss2.detach())))
        if step % args.eval_every == 0 or step == args.steps:
            m = dev_eval(model, dev, corpus)
            l1, l2 = np.mean(run_loss, 0)
            run_loss = []
            row = {"step": step, "train_s": round(train_time, 1), "loss1": round(float(l1), 4), "loss2": round(float(l2), 4),
                   "dev_miou": round(m["miou"], 4), "dev_iou50": round(m["iou50"], 4), "dev_med_len": round(m["med_len"], 1)}
            curve.append(row)
            print(row, flush=True)
            if m["miou"] > best:
                best = m["miou"]
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / "model.safetensors"))
                (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    with open(out / "curve.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(curve[0]))
        w.writeheader()
        w.writerows(curve)
    summary = {"run": args.run, "best_dev_miou": best, "params": n_params, "train_s": train_time,
               "wall_s": time.time() - t0, "args": vars(args)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(summary, flush=True)


if __name__ == "__main__":
    main()
