"""Question latency per method (models loaded), with top-1 quality, on three corpora; answer-clip cutting speed.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ask.py                          # demo, medvidqa, synthetic 1000
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ask.py --sets demo              # demo + clip table only
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ask.py --sets synthetic --synthetic 50   # smoke test
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_ask.py --with-ccgs --limit 20

Methods: every name of ``vcval.pipeline.METHODS`` except "ccgs" (add it with ``--with-ccgs``; "default"
is measured either way, and is whatever ``vcval ask`` uses now; it is timed on torch and again on its ONNX
export, ``default ... on onnx``). For each method the pipeline is built
and one question is asked untimed (model loads, lazy initialisation); then every question is asked and
timed (``ask(question, k=5)``), in two passes with the same pipeline: the first ("cold") includes
first-touch caches such as the localizer's per-video cue embeddings, filled as questions arrive, as in a
freshly started process; the second ("warm", skip it with ``--passes 1``) has those caches full and
measures the question-dependent work only. Reported: p50 and p95 (linear interpolation) in ms, the p50
ratio against the "bm25" row measured in the same run over the same questions, R@1 (top answer in the
expected video, %) and IoU@1 (mean temporal IoU of the top answer with the expected span, 0 when the
video is wrong, %), both from the first pass.

Sets (``--sets``, comma separated):

- demo: the embedded 8-video demo corpus (``vcval.demo.ensure_demo_corpus``) and its 24 example
  questions; followed by the clip-cutting table (60 s clip: stream copy vs an accurate re-encode) and the
  one-shot shell table (``vcval ask --demo`` in a fresh process, end to end, on the torch runtime and on the
  ONNX export that ``vcval export`` writes, against ``import torch`` alone).
- medvidqa: the 29 MedVidQA videos with transcripts (``data/medvidqa/transcripts``, from
  ``scripts/convert_medvidqa.py``) and their 59 train questions, as ``vcval eval --transcripts`` sees them
  (transcript-only corpus; built once, cached under ``runs/bench/medvidqa/``).
- synthetic: a reproducible transcript-only corpus of ``--synthetic`` N videos (default 1000, seed
  ``--seed``) cached under ``runs/bench/synthetic_<N>/``. The few real videos are planted unchanged with
  their real questions (``--planted`` videos from each of MedVidQA and the TutorialVQA by-video test split, up
  to 3 questions each); every other video is made of runs of 4-20 consecutive real cues (their own timing
  kept) from 2-4 real videos of one source, TutorialVQA or MedVidQA in proportion to their video counts,
  with a cue count drawn from that source's real videos (x0.8-1.2). The planted videos never lend cues to
  the synthetic ones, so their answers exist once. The build (MiniLM window + unit encodings) is timed and
  printed; later runs reuse the corpus.

Timings are wall clock on whatever machine runs this (2 shared CPU cores when written): compare rows of
one run, not numbers across runs. The tables are printed to stdout (markdown); diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    MEDVIDQA,
    TUTORIALVQA,
    WORK_DIR,
    Labelled,
    demo_labelled,
    ensure_converted,
    load_labelled,
    markdown_table,
    method_label,
    percentile,
    top_iou,
    transcript_corpus,
)

from vcval.errors import VCVALError  # noqa: E402
from vcval.evaluation.questions import seeded_sample  # noqa: E402
from vcval.pipeline import METHODS, build_pipeline  # noqa: E402
from vcval.utils import setup_script_logging  # noqa: E402

logger = logging.getLogger("bench.ask")

SETS = ("demo", "medvidqa", "synthetic")
BASE_METHOD = "bm25"


@dataclass
class MethodTiming:
    method: str
    times: list[float]  # first pass ("cold": per-video caches filled as questions arrive)
    r1: float  # % top answers in the expected video
    iou1: float  # mean top-1 IoU, %
    load_seconds: float
    errors: int
    warm_times: list[float] | None = None  # second pass over the same questions, same pipeline

    @property
    def p50_ms(self) -> float:
        return 1000 * percentile(self.times, 50)

    @property
    def p95_ms(self) -> float:
        return 1000 * percentile(self.times, 95)


def time_method(corpus: Any, method: str, questions: Sequence[Labelled], k: int, passes: int = 2,
                runtime: str = "torch") -> MethodTiming | str:
    """Build the pipeline, warm it up with one untimed question, then time every question (``passes`` times).

    Returns why not when the method cannot be built here (e.g. a learned method whose checkpoint this
    checkout does not have).
    """
    t0 = time.perf_counter()
    try:
        qa = build_pipeline(corpus, method, runtime=runtime)
    except VCVALError as exc:
        logger.warning("%s: method unavailable: %s", method, exc)
        return f"{type(exc).__name__}: {exc}"
    qa.ask(questions[0].question, k=k)  # warm-up: model loads, lazy initialisation
    load = time.perf_counter() - t0
    label = method_label(method, qa) + (f" on {runtime}" if runtime != "torch" else "")
    runs: list[list[float]] = []
    hits, ious, errors = 0, [], 0
    for p in range(passes):
        times = []
        for q in questions:
            t = time.perf_counter()
            try:
                answers = qa.ask(q.question, k=k)
            except VCVALError as exc:
                logger.warning("%s: question %r failed: %s", method, q.question, exc)
                answers, errors = [], errors + (p == 0)
            times.append(time.perf_counter() - t)
            if p == 0:
                top = answers[0] if answers else None
                hits += top is not None and top.video_id == q.video_id
                ious.append(top_iou(top, q))
        runs.append(times)
    del qa
    gc.collect()
    return MethodTiming(label, runs[0], 100 * hits / len(questions), 100 * statistics.fmean(ious), load, errors,
                        runs[1] if passes > 1 else None)


def latency_table(name: str, corpus: Any, questions: Sequence[Labelled], methods: Sequence[str], k: int,
                  passes: int = 2) -> str:
    """Time every method over the questions; the markdown table (with its notes). "default" is timed on both
    runtimes: torch, and the ONNX export (``vcval export``; the row says why when there is none)."""
    results: list[MethodTiming] = []
    unavailable: list[tuple[str, str]] = []
    runs = [(m, "torch") for m in methods] + [("default", "onnx")] * ("default" in methods)
    for method, runtime in runs:
        logger.info("%s: timing %s (%s) over %d questions", name, method, runtime, len(questions))
        res = time_method(corpus, method, questions, k, passes, runtime)
        if isinstance(res, str):
            unavailable.append((method, res))
            continue
        logger.info("%s %s: p50 %.1f ms, p95 %.1f ms, R@1 %.1f, IoU@1 %.1f (pipeline + warm-up %.1f s)",
                    name, method, res.p50_ms, res.p95_ms, res.r1, res.iou1, res.load_seconds)
        results.append(res)
    base = next((r for r in results if r.method == BASE_METHOD), None)
    headers = ["method", "p50 ms", "p95 ms", f"ratio p50 vs {BASE_METHOD}", "R@1", "IoU@1"]
    if passes > 1:
        headers += ["warm p50 ms", "warm p95 ms", f"warm ratio p50 vs {BASE_METHOD}"]
    rows = []
    for r in results:
        row = [r.method, f"{r.p50_ms:.1f}", f"{r.p95_ms:.1f}", f"{r.p50_ms / base.p50_ms:.2f}" if base else "n/a",
               f"{r.r1:.1f}", f"{r.iou1:.1f}"]
        if r.warm_times is not None:
            w50 = 1000 * percentile(r.warm_times, 50)
            bw50 = 1000 * percentile(base.warm_times, 50) if base and base.warm_times else None
            row += [f"{w50:.1f}", f"{1000 * percentile(r.warm_times, 95):.1f}", f"{w50 / bw50:.2f}" if bw50 else "n/a"]
        rows.append(row)
    notes = "; ".join(f"{r.method} {r.load_seconds:.1f} s" for r in results)
    errs = sum(r.errors for r in results)
    text = [markdown_table(headers, rows), "",
            "p50/p95/ratio/R@1/IoU@1: first pass over the questions (per-video caches such as the localizer's cue "
            "embeddings filled as questions arrive, as in a freshly started process)."]
    if passes > 1:
        text.append("warm: a second pass over the same questions with the same pipeline (those caches full): "
                    "question-dependent work only.")
    text.append(f"Pipeline build + one untimed warm-up question (not in the percentiles): {notes}."
                + (f" {errs} questions raised an error (counted as no answer)." if errs else ""))
    text += [f"Not measured: {m} ({why})." for m, why in unavailable]
    return "\n".join(text)


# --------------------------------------------------------------------------- synthetic corpus
def read_transcripts(folder: Path) -> dict[str, list[dict]]:
    """``{video_id: [{"start", "duration", "text"}]}`` of a transcripts folder, sorted by id."""
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))}


def synth_video(rng: random.Random, pool: Sequence[list[dict]], n_cues: int) -> list[dict]:
    """Runs of 4-20 consecutive cues from 2-4 videos of ``pool``, re-timed back to back (own timing kept)."""
    sources = rng.sample(list(pool), k=min(len(pool), rng.randint(2, 4)))
    out: list[dict] = []
    t = 0.0
    while len(out) < n_cues:
        src = rng.choice(sources)
        run_len = min(len(src), rng.randint(4, 20))
        i = rng.randrange(0, len(src) - run_len + 1)
        run = src[i:i + run_len]
        base = float(run[0]["start"])
        for c in run:
            out.append({"start": round(t + float(c["start"]) - base, 3), "duration": float(c["duration"]),
                        "text": c["text"]})
        t = max(o["start"] + o["duration"] for o in out[-len(run):]) + round(rng.uniform(0.2, 1.5), 3)
    return out[:n_cues]


def make_synthetic(n: int, seed: int, planted: int) -> tuple[dict[str, list[dict]], list[Labelled], dict]:
    """The synthetic corpus from the converted TutorialVQA (by-video test questions) and MedVidQA data."""
    sources = {
        "medvidqa": (read_transcripts(MEDVIDQA / "transcripts"), load_labelled(MEDVIDQA / "questions_with_transcripts.json")),
        "tutorialvqa": (read_transcripts(TUTORIALVQA / "transcripts"), load_labelled(TUTORIALVQA / "test.json")),
    }
    return synthesize(sources, n, seed, planted)


def synthesize(sources: dict[str, tuple[dict[str, list[dict]], list[Labelled]]], n: int, seed: int, planted: int
               ) -> tuple[dict[str, list[dict]], list[Labelled], dict]:
    """``n`` transcripts (``{video_id: cues}``), the planted questions and a description.

    ``sources``: ``{name: ({video_id: cues}, questions)}``. From each source, ``planted`` videos that have
    questions are kept unchanged with up to 3 of their questions; the other videos are :func:`synth_video`
    mixes of the source's remaining videos (sources drawn in proportion to their video counts).
    Deterministic for given inputs and ``seed``.
    """
    rng = random.Random(seed)
    videos: dict[str, list[dict]] = {}
    questions: list[Labelled] = []
    for name in sorted(sources):
        transcripts, qs = sources[name]
        by_video: dict[str, list[Labelled]] = {}
        for q in qs:
            if q.video_id in transcripts:
                by_video.setdefault(q.video_id, []).append(q)
        ids = sorted(by_video)
        for vid in rng.sample(ids, k=min(planted, len(ids), max(0, n // (2 * len(sources))))):
            videos[vid] = transcripts[vid]
            vq = by_video[vid]
            questions += [vq[i] for i in sorted(rng.sample(range(len(vq)), k=min(3, len(vq))))]
    pools = {name: [cues for vid, cues in src.items() if vid not in videos and len(cues) >= 4]
             for name, (src, _) in sources.items()}
    lengths = {name: [len(c) for c in src.values()] for name, (src, _) in sources.items()}
    names = sorted(m for m in pools if pools[m])
    weights = [len(pools[m]) for m in names]
    made = {m: 0 for m in names}
    for i in range(n - len(videos)):
        src_name = rng.choices(names, weights=weights)[0]
        n_cues = max(4, round(rng.choice(lengths[src_name]) * rng.uniform(0.8, 1.2)))
        videos[f"syn-{i:05d}"] = synth_video(rng, pools[src_name], n_cues)
        made[src_name] += 1
    info = {"n": n, "seed": seed, "planted_videos": len(videos) - sum(made.values()), "planted_questions": len(questions),
            "synthetic_by_source": made, "cues": sum(len(c) for c in videos.values()),
            "hours": round(sum(max((c["start"] + c["duration"] for c in v), default=0) for v in videos.values()) / 3600, 1)}
    return videos, questions, info


def write_transcripts(videos: dict[str, list[dict]], folder: Path) -> None:
    """Write ``<id>.json`` files (only those whose bytes changed; stale files removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for vid, cues in videos.items():
        data = (json.dumps(cues, ensure_ascii=False) + "\n").encode("utf-8")
        path = folder / f"{vid}.json"
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
    for path in folder.glob("*.json"):
        if path.stem not in videos:
            path.unlink()


# --------------------------------------------------------------------------- sets
def demo_set() -> tuple[Any, list[Labelled], str]:
    from vcval.demo import ensure_demo_corpus

    corpus = ensure_demo_corpus()
    return corpus, demo_labelled(), f"embedded demo corpus, {len(corpus)} videos"


def medvidqa_set() -> tuple[Any, list[Labelled], str]:
    ensure_converted()
    built = transcript_corpus(MEDVIDQA / "transcripts", WORK_DIR / "medvidqa")
    questions = load_labelled(MEDVIDQA / "questions_with_transcripts.json")
    return built.corpus, questions, f"MedVidQA transcripts, {len(built.corpus)} videos; corpus {built.build_line()}"


def synthetic_set(n: int, seed: int, planted: int) -> tuple[Any, list[Labelled], str]:
    ensure_converted()
    folder = WORK_DIR / (f"synthetic_{n}" if seed == 0 else f"synthetic_{n}_seed{seed}")
    videos, questions, info = make_synthetic(n, seed, planted)
    write_transcripts(videos, folder / "transcripts")
    (folder / "questions.json").write_text(json.dumps(
        [{"question": q.question, "video_id": q.video_id, "answer_start_second": q.start, "answer_end_second": q.end}
         for q in questions], indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "info.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    logger.info("synthetic corpus: %s", info)
    built = transcript_corpus(folder / "transcripts", folder)
    print(f"\nSynthetic corpus of {len(built.corpus)} videos ({info['cues']} cues, {info['hours']} h; seed {seed}): "
          f"{built.build_line()}.")
    return built.corpus, questions, (f"synthetic transcript corpus, {len(built.corpus)} videos "
                                     f"({info['planted_videos']} real ones planted)")


def clip_table(corpus: Any) -> str:
    """A 60 s answer clip: stream copy (vcval) vs an accurate re-encode (baseline)."""
    from vcval import media

    video_id = next(iter(corpus)).video_id
    src = corpus.media_file(video_id)
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, accurate in (("re-encode (baseline)", True), ("stream copy (vcval)", False)):
            t0 = time.perf_counter()
            media.trim(src, Path(tmp) / f"{accurate}.mp4", 10.0, 70.0, accurate=accurate)
            rows.append((label, time.perf_counter() - t0))
    return markdown_table(["60 s answer clip", "seconds", "x baseline"],
                          [[label, f"{sec:.2f}", f"{sec / rows[0][1]:.2f}"] for label, sec in rows])


def shell_table(questions: Sequence[Labelled], runs: int = 5) -> str:
    """One-shot ``vcval ask --demo QUESTION`` from the shell (a fresh process each time, demo corpus already
    built): p50 wall seconds over ``runs`` questions, beside two floors measured in the same run: a Python
    process that only imports torch (what any torch model costs a fresh process) and ``vcval ask --help``.
    Each command runs once untimed first, with bytecode writing allowed (PYTHONDONTWRITEBYTECODE removed), so the
    timed runs read compiled modules as an installed package does after its first start."""
    import os
    import subprocess

    from vcval.runtime import export_default

    t0 = time.perf_counter()
    export_default()  # once per checkpoint (cached): about a minute the first time
    logger.info("ONNX export ready after %.1f s", time.perf_counter() - t0)
    exe = [sys.executable, "-m", "vcval.cli"]
    cases = [
        ("python -c 'import torch' (floor)", [[sys.executable, "-c", "import torch"]] * runs),
        ("vcval ask --help", [[*exe, "ask", "--help"]] * runs),
    ]
    for runtime in ("torch", "onnx"):
        cases.append((f"vcval ask --demo QUESTION --k 5 --runtime {runtime}",
                      [[*exe, "ask", q.question, "--demo", "--k", "5", "--runtime", runtime] for q in questions[:runs]]))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    rows = []
    for label, commands in cases:
        subprocess.run(commands[0], check=True, capture_output=True, env=env)  # untimed: compiles, warms the disk cache
        times = []
        for cmd in commands:
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - t0)
        rows.append((label, statistics.median(times), max(times)))
    floor = rows[0][1]
    return markdown_table(["one-shot command (fresh process)", "p50 s", "max s", "x import torch"],
                          [[label, f"{p50:.2f}", f"{worst:.2f}", f"{p50 / floor:.2f}"] for label, p50, worst in rows])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated subset of {','.join(SETS)}")
    ap.add_argument("--with-ccgs", action="store_true", help='also time "ccgs" (the CCGS cross-encoder localizer)')
    ap.add_argument("--methods", nargs="+", choices=list(METHODS), default=None,
                    help="time only these methods (bm25 is added for the ratio)")
    ap.add_argument("--synthetic", type=int, default=1000, metavar="N", help="videos of the synthetic corpus")
    ap.add_argument("--planted", type=int, default=5, help="real videos planted per source in the synthetic corpus")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic corpus and of --limit")
    ap.add_argument("--limit", type=int, default=None, help="a seeded sample of at most N questions per set")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--passes", type=int, choices=(1, 2), default=2,
                    help="2 (default): also time a second, warm-cache pass over the same questions")
    ap.add_argument("--verbose", action="store_true", help="vcval's own INFO logging too")
    args = ap.parse_args(argv)
    setup_script_logging(args.verbose)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = sorted(set(sets) - set(SETS))
    if unknown or not sets:
        ap.error(f"--sets: unknown {unknown}; choose from {', '.join(SETS)}")
    if args.methods:
        methods = [m for m in METHODS if m in args.methods or m == BASE_METHOD]
    else:
        methods = [m for m in METHODS if m != "ccgs" or args.with_ccgs]

    for name in sets:
        if name == "demo":
            corpus, questions, note = demo_set()
        elif name == "medvidqa":
            corpus, questions, note = medvidqa_set()
        else:
            corpus, questions, note = synthetic_set(args.synthetic, args.seed, args.planted)
        questions = seeded_sample(questions, args.limit, args.seed)
        table = latency_table(name, corpus, questions, methods, args.k, args.passes)
        print(f"\n### ask latency, {name}: {len(questions)} questions, {note} (k={args.k})\n")
        print(table)
        if name == "demo":
            print("\n" + clip_table(corpus))
            print("\n" + shell_table(questions))
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
