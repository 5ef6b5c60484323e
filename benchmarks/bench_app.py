"""The Gradio app on each runtime: start-up time, memory, question latency through the app's own handler.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_app.py              # demo corpus + MedVidQA (29 videos)
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_app.py --sets demo  # demo corpus only

For each corpus and runtime (``VCVAL_RUNTIME=torch`` and ``VCVAL_RUNTIME=auto``, which serves the default
model's ONNX export on a CPU host once ``vcval export`` has made one; this script makes it first), a fresh
Python process imports ``vcval.app`` and builds the app as ``python app.py`` does (``build_demo``: opens the
corpus, loads the models, asks one warm-up question). Reported: seconds from process start to a ready app,
peak resident memory (MB, ``ru_maxrss``), whether torch was imported, and the latency of every question
through ``DemoHandlers.ask`` (the handler behind the Ask button: retrieval, localisation and the rendered answer
panel, without the browser) in two passes (the first cuts each answer's clip, the second finds it cut), p50 of both, with the top answer's video compared across
the two runtimes. Ratios are against the torch row of the same corpus, measured in the same run.

Sets: ``demo`` (the embedded 8-video demo corpus and its 24 example questions) and ``medvidqa`` (the 29
MedVidQA videos with transcripts and their 59 questions; the corpus ``benchmarks/bench_ask.py`` caches
under ``runs/bench/medvidqa/``, built here when missing). Timings are wall clock on whatever machine runs
this: compare rows of one run. With ``medvidqa``, a last table compares the two runtimes' text encoders on what an
upload costs them (MiniLM throughput on ingest's windows and sentences). Tables go to stdout (markdown),
diagnostics to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import MEDVIDQA, demo_labelled, load_labelled, markdown_table, percentile  # noqa: E402

logger = logging.getLogger("bench_app")
RUNTIMES = (("torch", "torch"), ("auto", "onnx (auto)"))

CHILD = r"""
import json, resource, sys, time
t0 = float(sys.argv[1])
corpus_dir = sys.argv[2] or None
questions = json.loads(sys.argv[3])
from vcval.app import DemoHandlers, _default_pipeline, build_demo
qa = _default_pipeline(corpus_dir, demo=corpus_dir is None)  # what build_demo does first: models + warm-up question
build_demo(pipeline=qa, demo_corpus=corpus_dir is None)
ready = time.time() - t0
handlers = DemoHandlers(qa)
times, tops = [], []
for attempt in range(2):
    for q in questions:
        s = time.perf_counter()
        out = handlers.ask(q)
        times.append((attempt, time.perf_counter() - s))
        if attempt == 0:
            tops.append(out[5][0]["video_id"] if out[5] else None)
print(json.dumps({"ready_s": ready, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "torch": "torch" in sys.modules, "times": times, "tops": tops,
                  "encoder": type(qa.corpus.text_encoder._fast[1]).__name__}))
"""


def run_app(runtime: str, corpus_dir: Path | None, questions: Sequence[str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(VCVAL_RUNTIME=runtime, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    args = [sys.executable, "-c", CHILD, "", str(corpus_dir or ""), json.dumps(list(questions))]
    subprocess.run([sys.executable, "-c", "import vcval.app"], check=True, env=env, capture_output=True)  # compile
    args[3] = repr(time.time())
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"app process failed ({runtime}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(name: str, corpus_dir: Path | None, questions: Sequence[str]) -> str:
    rows, base, tops0 = [], None, None
    for runtime, label in RUNTIMES:
        r = run_app(runtime, corpus_dir, questions)
        cold = [t * 1000 for a, t in r["times"] if a == 0]
        warm = [t * 1000 for a, t in r["times"] if a == 1]
        p50 = percentile(warm, 50)
        if base is None:
            base, tops0 = (r["ready_s"], r["rss_mb"], p50), r["tops"]
        same = sum(a == b for a, b in zip(tops0, r["tops"]))
        logger.info("%s %s: text encoder forward %s", name, label, r["encoder"])
        rows.append([label, f"{r['ready_s']:.1f}", f"{r['ready_s'] / base[0]:.2f}", f"{r['rss_mb']:.0f}",
                     f"{r['rss_mb'] / base[1]:.2f}", "yes" if r["torch"] else "no", f"{percentile(cold, 50):.1f}", f"{p50:.1f}",
                     f"{percentile(warm, 95):.1f}", f"{p50 / base[2]:.2f}", f"{same}/{len(questions)}"])
    head = f"### {name}: {len(questions)} questions\n\n"
    return head + markdown_table(
        ["VCVAL_RUNTIME", "start to ready s", "x torch", "peak RSS MB", "x torch", "torch imported",
         "first pass p50 ms", "App.ask p50 ms", "p95 ms", "x torch", "same top video as torch"], rows)


def encoding_table(n_videos: int = 10, runs: int = 2) -> str:
    """What an upload costs the text encoder on each runtime: MiniLM throughput on the kind of texts ingest
    encodes (windows of about 120 words, sentences), from the first ``n_videos`` MedVidQA transcripts; best of
    ``runs``; plus the largest difference between the two runtimes' vectors."""
    import numpy as np

    from vcval.encoders import TextEncoder
    from vcval.runtime import export_default, load_export

    texts: list[str] = []
    for f in sorted((MEDVIDQA / "transcripts").glob("*.json"))[:n_videos]:
        words = " ".join(c["text"] for c in json.loads(f.read_text(encoding="utf-8"))).split()
        texts += [" ".join(words[i:i + 120]) for i in range(0, len(words), 60)]
    sentences = [" ".join(t.split()[:12]) for t in texts]
    encoders = {"torch": TextEncoder.load(device="cpu"), "onnx": TextEncoder.load_onnx(load_export(export_default())[0])}
    rows, base = [], {}
    for name, enc in encoders.items():
        enc.encode(texts[:8])  # untimed: first-call setup
        row = [name]
        for label, batch in (("windows", texts), ("sentences", sentences)):
            best = min(_timed(enc.encode, batch) for _ in range(runs))
            rate = len(batch) / best
            base.setdefault(label, rate)
            row += [f"{rate:.0f}", f"{rate / base[label]:.2f}"]
        rows.append(row)
    diff = float(np.abs(encoders["torch"].encode(texts[:64]) - encoders["onnx"].encode(texts[:64])).max())
    return (f"### Text encoding for ingest: {len(texts)} windows of about 120 words and as many 12-word sentences "
            f"({n_videos} MedVidQA transcripts)\n\n"
            + markdown_table(["runtime", "windows / s", "x torch", "sentences / s", "x torch"], rows)
            + f"\n\nLargest difference between the two runtimes' vectors (64 windows): {diff:.1e}.")


def _timed(fn: Any, arg: Any) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default="demo,medvidqa", help="comma-separated: demo, medvidqa")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    from vcval.runtime import export_default

    t0 = time.perf_counter()
    logger.info("ONNX export %s ready after %.1f s", export_default(), time.perf_counter() - t0)
    out = ["## The app on each runtime (`benchmarks/bench_app.py`)\n"]
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if "demo" in sets:
        from vcval.demo import ensure_demo_corpus

        ensure_demo_corpus()
        out.append(table("demo corpus (8 videos)", None, [q.question for q in demo_labelled()]))
    if "medvidqa" in sets:
        from benchlib import ensure_converted, transcript_corpus

        ensure_converted()
        built = transcript_corpus(MEDVIDQA / "transcripts", Path("runs/bench/medvidqa"))
        out.append(table(f"MedVidQA ({len(built.corpus)} videos)", Path(built.corpus.root),
                         [q.question for q in load_labelled(MEDVIDQA / "questions_with_transcripts.json")]))
    if "medvidqa" in sets:
        out.append(encoding_table())
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
