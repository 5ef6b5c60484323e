#!/usr/bin/env python
"""Evaluate a trained CueSpan head against the training-free BaselineLocalizer, same questions, same run.

    PYTHONPATH=. HF_HUB_OFFLINE=1 python scripts/proto_eval_cuespan.py --run main [--raw-baseline]

Sets: TutorialVQA dev / test (split by video) and the 59 MedVidQA questions with transcripts
(transfer only). (a) oracle video: mIoU, %IoU>=0.5, median predicted / gold length;
(b) corpus: BM25 (bm25s, whole transcripts) top-10 videos, spans ranked across videos:
video R@1 and Rank@1 mIoU (0 for a wrong video). Also head-only latency per question.
Writes data/cuespan/<run>/eval.json.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from proto_cuespan_data import ROOT, BM25Index, load_corpus, load_questions, predict_pairs, span_iou

from vcval.localize import BaselineLocalizer, Candidate, SpanPrior
from vcval.models.cuespan import CueSpanConfig, CueSpanModel
from vcval.types import VideoRecord


def load_model(run: str) -> CueSpanModel:
    from safetensors.torch import load_file

    d = ROOT / "data/cuespan" / run
    model = CueSpanModel(CueSpanConfig.from_dict(json.loads((d / "config.json").read_text())))
    model.load_state_dict(load_file(str(d / "model.safetensors")))
    return model.eval()


def record(v, cues, tag: str = "units") -> VideoRecord:
    """A VideoRecord for the baseline; ``tag`` keeps its per-video cue-vector cache apart for units / raw cues."""
    return VideoRecord(v.vid, v.vid, float(cues[-1].end) if cues else 0.0, "eval", "transcript", f"{v.vid}:{tag}", len(cues))


def fit_prior(qs, corpus) -> SpanPrior:
    """SpanPrior (log-normal length, normal centre) fitted on questions' gold spans."""
    lens = np.log(np.maximum([q.end - q.start for q in qs], 1.0))
    dur = [max(float(corpus.videos[q.vid].ends.max()), 1.0) for q in qs]
    cen = np.array([(q.start + q.end) / 2 / d for q, d in zip(qs, dur)])
    return SpanPrior(float(np.exp(np.median(lens))), float(lens.std()), float(cen.mean()), float(cen.std()))


def summarize(spans, qs) -> dict:
    ious = np.array([span_iou(s, e, q.start, q.end) if vid == q.vid else 0.0 for (vid, s, e), q in zip(spans, qs)])
    return {
        "mIoU": round(100 * float(ious.mean()), 2),
        "IoU>=0.5": round(100 * float((ious >= 0.5).mean()), 2),
        "R@1": round(100 * float(np.mean([vid == q.vid for (vid, _, _), q in zip(spans, qs)])), 2),
        "med_pred_len": round(float(np.median([e - s for _, s, e in spans])), 1),
        "med_gold_len": round(float(np.median([q.end - q.start for q in qs])), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", default="main")
    ap.add_argument("--raw-baseline", action="store_true", help="also run the baseline over the raw (unmerged) MedVidQA cues")
    ap.add_argument("--sets", default="dev,test,medvidqa")
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_model(args.run)
    from vcval.encoders import TextEncoder

    enc = TextEncoder.load()
    lookup: dict[str, np.ndarray] = {}

    def embed(texts: list[str]) -> np.ndarray:
        miss = [t for t in dict.fromkeys(texts) if t not in lookup]
        if miss:
            for t, e in zip(miss, enc.encode(miss)):
                lookup[t] = e
        return np.stack([lookup[t] for t in texts])

    corpora = {}
    sets = []
    tv = load_corpus("tutorialvqa", enc)
    source_prior = fit_prior(load_questions(ROOT / "data/tutorialvqa/train.json", tv, enc), tv)
    # length-only shift: MedVidQA TRAIN median answer (51.5 s, 2,710 annotations, times only) with the source's
    # spread and position, so the correction is monotone in log length (a ratio of Gaussians with different
    # spreads would blow up at both tails)
    target_prior = SpanPrior(SpanPrior().length_median_s, source_prior.length_log_sigma, source_prior.center_mean, source_prior.center_std)
    print("source (TutorialVQA train) prior:", source_prior, flush=True)

    def shift(v) -> np.ndarray:
        """log p_medvidqa(length) - log p_tutorialvqa(length): a tuning-free correction for the answer-length shift."""
        return target_prior.cue_span_matrix(v.units) - source_prior.cue_span_matrix(v.units)

    for name in args.sets.split(","):
        cname = "medvidqa" if name == "medvidqa" else "tutorialvqa"
        if cname not in corpora:
            c = corpora[cname] = load_corpus(cname, enc)
            for v in c.videos.values():
                texts = [u.text for u in v.units]
                for i, e in enumerate(v.ctx):
                    lookup[" ".join(texts[max(0, i - 1) : i + 2])] = e
        c = corpora[cname]
        path = ROOT / ("data/medvidqa/questions_with_transcripts.json" if name == "medvidqa" else f"data/tutorialvqa/{name}.json")
        qs = load_questions(path, c, enc)
        for q in qs:
            lookup[q.text] = q.emb
        sets.append((name, c, qs))

    results = {}
    for name, c, qs in sets:
        res = {}
        # (a) oracle video
        preds = predict_pairs(model, [(q, c.videos[q.vid]) for q in qs], c)
        res["oracle/learned"] = summarize(
            [(q.vid, c.videos[q.vid].units[i].start, c.videos[q.vid].units[j].end) for q, (i, j, _) in zip(qs, preds)], qs)
        if name == "medvidqa":
            preds_s = predict_pairs(model, [(q, c.videos[q.vid]) for q in qs], c, bias_fn=shift)
            res["oracle/learned+prior-shift"] = summarize(
                [(q.vid, c.videos[q.vid].units[i].start, c.videos[q.vid].units[j].end) for q, (i, j, _) in zip(qs, preds_s)], qs)
        base = BaselineLocalizer(embed)
        spans = []
        for q in qs:
            v = c.videos[q.vid]
            a = base.localize(q.text, [Candidate(record(v, v.units), v.units, None, 1.0)], top_n=1)[0]
            spans.append((a.video_id, a.start, a.end))
        res["oracle/baseline(units)"] = summarize(spans, qs)
        if args.raw_baseline and name == "medvidqa":
            spans = []
            for q in qs:
                v = c.videos[q.vid]
                a = base.localize(q.text, [Candidate(record(v, v.raw, "raw"), v.raw, None, 1.0)], top_n=1)[0]
                spans.append((a.video_id, a.start, a.end))
            res["oracle/baseline(raw cues)"] = summarize(spans, qs)
        # (b) corpus: BM25 top-k over all videos of the corpus
        bm = BM25Index(list(c.videos.values()))
        hits = bm.search([q.text for q in qs], k=args.k)
        pairs = [(q, c.videos[vid]) for q, hs in zip(qs, hits) for vid, _ in hs]
        variants = [("", None)] + ([("+prior-shift", shift)] if name == "medvidqa" else [])
        for tag, bias in variants:
            preds = predict_pairs(model, pairs, c, bias_fn=bias)
            spans_l, spans_bm = [], []
            p = 0
            for _q, hs in zip(qs, hits):
                cand = preds[p : p + len(hs)]
                p += len(hs)
                b = int(np.argmax([s for _, _, s in cand]))
                v = c.videos[hs[b][0]]
                spans_l.append((v.vid, v.units[cand[b][0]].start, v.units[cand[b][1]].end))
                v0 = c.videos[hs[0][0]]
                i0, j0, _ = cand[0]
                spans_bm.append((v0.vid, v0.units[i0].start, v0.units[j0].end))
            res[f"corpus/learned{tag}(rank spans)"] = summarize(spans_l, qs)
            res[f"corpus/learned{tag}(BM25 top-1 video)"] = summarize(spans_bm, qs)
        spans_b = []
        for q, hs in zip(qs, hits):
            cands = [Candidate(record(c.videos[vid], c.videos[vid].units), c.videos[vid].units, None, s) for vid, s in hs]
            a = base.localize(q.text, cands, top_n=1)[0]
            spans_b.append((a.video_id, a.start, a.end))
        res["corpus/baseline"] = summarize(spans_b, qs)
        results[name] = res
        for k, v in res.items():
            print(f"{name:9s} {k:34s} {v}", flush=True)

    # latency: head only, one question x one video (dev videos), and one question x k videos
    name, c, qs = sets[0]
    one = [(q, c.videos[q.vid]) for q in qs[:200]]
    ts = []
    for pr in one:
        t = time.perf_counter()
        predict_pairs(model, [pr], c)
        ts.append(1000 * (time.perf_counter() - t))
    tk = []
    vids = list(c.videos.values())[: args.k]
    for q in qs[:50]:
        t = time.perf_counter()
        predict_pairs(model, [(q, v) for v in vids], c)
        tk.append(1000 * (time.perf_counter() - t))
    tq = []
    for q in qs[:30]:
        t = time.perf_counter()
        enc.encode([q.text + " "])
        tq.append(1000 * (time.perf_counter() - t))
    results["latency_ms"] = {
        "head_1video_median": round(float(np.median(ts)), 2),
        "head_1video_p90": round(float(np.percentile(ts, 90)), 2),
        f"head_{args.k}videos_median": round(float(np.median(tk)), 2),
        "question_encode_median": round(float(np.median(tq)), 2),
        "units_in_1video_median": float(np.median([len(v.units) for _, v in one])),
    }
    print(results["latency_ms"], flush=True)
    (ROOT / "data/cuespan" / args.run / "eval.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
