"""Question latency (and, for context, top-1 quality) on the embedded demo corpus, per method,
and answer-clip cutting speed.

    .venv/bin/python benchmarks/bench_ask.py

Baselines measured in the same run: BM25 for `ask` latency; an accurate re-encode for clips
(vcval stream-copies from its keyframe-per-second normalized media).
"""
from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

from vcval import media
from vcval.demo import demo_questions, ensure_demo_corpus
from vcval.pipeline import build_pipeline

logging.basicConfig(level=logging.WARNING)


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def time_method(corpus, method: str, questions: list) -> tuple[list[float], float, float]:
    """(seconds per question, R@1 in %, mean top-1 IoU in % (0 when the video is wrong))."""
    qa = build_pipeline(corpus, method)
    qa.ask(questions[0].question, k=5)  # warm-up: model load + per-video caches
    times, hits, ious = [], 0, []
    for q in questions:
        t0 = time.perf_counter()
        answers = qa.ask(q.question, k=5)
        times.append(time.perf_counter() - t0)
        top = answers[0]
        right = top.video_id == q.slug
        hits += right
        ious.append(iou((top.start, top.end), (q.answer_start, q.answer_end)) if right else 0.0)
    return times, 100 * hits / len(questions), 100 * statistics.fmean(ious)


def main() -> None:
    corpus = ensure_demo_corpus()
    questions = demo_questions()
    print(f"ask latency over {len(questions)} demo questions, {len(corpus)} videos (k=5)")
    print(f"{'method':12s} {'median ms':>10s} {'p90 ms':>8s} {'x bm25':>7s} {'R@1':>6s} {'IoU@1':>6s}")
    base = None
    for method in ("bm25", "dense", "hybrid", "ccgs", "default"):
        times, r1, iou1 = time_method(corpus, method, questions)
        times.sort()
        med = statistics.median(times) * 1000
        p90 = times[int(0.9 * (len(times) - 1))] * 1000
        base = base or med
        print(f"{method:12s} {med:10.1f} {p90:8.1f} {med / base:7.2f} {r1:6.1f} {iou1:6.1f}")

    video_id = next(iter(corpus)).video_id
    src = corpus.media_file(video_id)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, accurate in (("re-encode (baseline)", True), ("stream copy (vcval)", False)):
            t0 = time.perf_counter()
            media.trim(src, Path(tmp) / f"{accurate}.mp4", 10.0, 70.0, accurate=accurate)
            rows.append((label, time.perf_counter() - t0))
    print(f"\n{'60 s answer clip':24s} {'seconds':>8s} {'x baseline':>11s}")
    for label, sec in rows:
        print(f"{label:24s} {sec:8.2f} {sec / rows[0][1]:11.2f}")


if __name__ == "__main__":
    main()
