"""How often a method says "no confident answer" when it should, and how often it answers when it can.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_refusal.py                      # method "default", demo
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_refusal.py --method hybrid default --tutorialvqa
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_refusal.py --tutorialvqa --skip-demo --sample 100 --seed 0

For each method and question set, the TOP answer of ``ask(question, k=5)`` is read:

- real questions (answer in the corpus): *accepted* when ``answer.confident`` is True; an accepted
  answer is *right* when it is the expected video and its span has temporal IoU >= 0.5 with the
  expected span. Reported: accepted / n, right among accepted (precision), and, for context, how many
  top answers are right whatever their confidence ("top-1 right").
- every question's top answer: the mean ``video_confidence`` (the calibrated chance that the answer's
  video is the right one) against the share that is, for real and for unanswerable questions (never
  right), and the ECE over all: how the video calibration fitted on TutorialVQA dev holds here.
- unanswerable questions (``benchmarks/questions/*_offtopic.json``, per kind: off-topic, near-miss):
  *refused* when the top answer is not confident (``confident`` False) or there is no answer at all.

Methods without a calibrated confidence return ``confident = None``: their acceptance and refusal
cells read "n/a" (top-1 right is still measured). A method that cannot be built here (e.g. a learned
method whose checkpoint this checkout lacks) gets a "not measured" row. "default" rows name the
localizer it resolved to.

Question sets:

- demo: the embedded demo corpus (``vcval.demo.ensure_demo_corpus``), its 24 example questions
  (``assets/demo/questions.json``) and ``benchmarks/questions/demo_offtopic.json``.
- tutorialvqa (``--tutorialvqa``): a transcript-only corpus of all 76 TutorialVQA videos
  (``data/tutorialvqa/transcripts``, written by ``scripts/convert_tutorialvqa.py``; built once and cached
  under ``runs/bench/tutorialvqa/``), a seeded sample of ``--sample`` (100) questions of the by-video TEST
  split (``data/tutorialvqa/test.json``; the same selection as ``vcval eval --sample 100 --seed 0``) and
  ``benchmarks/questions/tutorialvqa_offtopic.json``.
- medvidqa (``--medvidqa``): the 29 MedVidQA videos with transcripts (``data/medvidqa/transcripts``, from
  ``scripts/convert_medvidqa.py``; the corpus ``benchmarks/bench_ask.py`` caches under ``runs/bench/medvidqa/``),
  their 59 train questions, and ``benchmarks/questions/medvidqa_offtopic.json`` (medical how-to near-misses
  written for these 29 videos, plus the demo file's off-topic questions): how the confidence calibrated on
  TutorialVQA dev carries over to a medical corpus, the domain vcval is judged on.

The unanswerable question files are a held-out measurement: never use them to train, tune or pick a
confidence threshold (see ``benchmarks/questions/README.md``). Per-question rows go to
``runs/bench/refusal/<set>__<method>.json``. The table is printed to stdout (markdown); diagnostics
go to stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (  # noqa: E402
    MEDVIDQA,
    QUESTIONS_DIR,
    TUTORIALVQA,
    WORK_DIR,
    Labelled,
    demo_labelled,
    ensure_converted,
    load_labelled,
    markdown_table,
    method_label,
    top_iou,
    transcript_corpus,
    unanswerable,
)

from vcval.errors import VCVALError  # noqa: E402
from vcval.evaluation.questions import seeded_sample  # noqa: E402
from vcval.pipeline import METHODS, build_pipeline  # noqa: E402
from vcval.utils import setup_script_logging  # noqa: E402

logger = logging.getLogger("bench.refusal")

MIN_IOU = 0.5
KINDS = ("real", "off-topic", "near-miss")


@dataclass
class QuestionSet:
    """A corpus with answerable (labelled) and unanswerable questions."""

    name: str
    corpus: Any
    real: list[Labelled]
    unanswerable: list[dict]
    note: str = ""


@dataclass
class Outcome:
    """The top answer to one question."""

    question: str
    kind: str  # real | off-topic | near-miss
    video_id: str | None = None
    start: float | None = None
    end: float | None = None
    confidence: float | None = None
    video_confidence: float | None = None
    confident: bool | None = None  # None: the method gives none (or no answer, see answered)
    answered: bool = False
    right: bool | None = None  # real questions only: right video and IoU >= MIN_IOU
    iou: float | None = None
    seconds: float = 0.0
    error: str | None = None
    expected: list = field(default_factory=list)


def ask_top(qa: Any, question: str, k: int) -> tuple[Any, float, str | None]:
    """(top answer or None, seconds, error message or None)."""
    t0 = time.perf_counter()
    try:
        answers = qa.ask(question, k=k)
        err = None
    except VCVALError as exc:  # a question the system rejects: no answer
        answers, err = [], f"{type(exc).__name__}: {exc}"
        logger.warning("question %r: %s", question, err)
    return (answers[0] if answers else None), time.perf_counter() - t0, err


def run_method(qs: QuestionSet, method: str, k: int) -> tuple[str, list[Outcome]] | str:
    """(label, outcomes) of every question of the set with one method, or why the method cannot be built."""
    t0 = time.perf_counter()
    try:
        qa = build_pipeline(qs.corpus, method)
    except VCVALError as exc:
        logger.warning("%s: method unavailable: %s", method, exc)
        return f"{type(exc).__name__}: {exc}"
    first = qs.real[0].question if qs.real else qs.unanswerable[0]["question"]
    qa.ask(first, k=k)  # warm-up: lazy model loads
    logger.info("%s on %s: pipeline ready in %.1f s", method, qs.name, time.perf_counter() - t0)
    out: list[Outcome] = []
    items: list[tuple[str, str, Labelled | None]] = [(q.question, "real", q) for q in qs.real]
    items += [(str(u["question"]), str(u["kind"]), None) for u in qs.unanswerable]
    for text, kind, gold in items:
        top, sec, err = ask_top(qa, text, k)
        o = Outcome(text, kind, seconds=sec, error=err)
        if top is not None:
            o.answered = True
            o.video_id, o.start, o.end = top.video_id, float(top.start), float(top.end)
            o.confidence = None if top.confidence is None else float(top.confidence)
            o.video_confidence = None if top.video_confidence is None else float(top.video_confidence)
            o.confident = top.confident
        if gold is not None:
            o.iou = top_iou(top, gold)
            o.right = top is not None and top.video_id == gold.video_id and o.iou >= MIN_IOU
            o.expected = [gold.video_id, gold.start, gold.end]
        out.append(o)
    return method_label(method, qa), out


# --------------------------------------------------------------------------- summary
def calibrated(rows: Sequence[Outcome]) -> bool:
    """True when every answered question of the group carries a confidence flag."""
    return all(o.confident is not None for o in rows if o.answered)


def frac(num: int, den: int) -> str:
    return f"{num}/{den} ({100 * num / den:.1f}%)" if den else "–"


def median_conf(rows: Sequence[Outcome], cal: bool) -> str:
    vals = [o.confidence for o in rows if o.confidence is not None]
    return f"{statistics.median(vals):.2f}" if vals and cal else "n/a"


def summary_row(method: str, outcomes: Sequence[Outcome]) -> list[str]:
    """One table row: acceptance of real questions, refusal of unanswerable ones per kind.

    A method is read as calibrated when every answer it gave carries ``confident``; otherwise every
    acceptance/refusal cell is "n/a" (a question with no answer at all does not make it calibrated).
    """
    cal = calibrated(outcomes)
    real = [o for o in outcomes if o.kind == "real"]
    row = [method]
    if real and cal:
        accepted = [o for o in real if o.answered and o.confident]
        right = sum(bool(o.right) for o in accepted)
        row += [frac(len(accepted), len(real)), frac(right, len(accepted)) if accepted else "0 accepted"]
    else:
        row += ["n/a", "n/a"]
    row.append(frac(sum(bool(o.right) for o in real), len(real)) if real else "–")
    unans = [o for o in outcomes if o.kind != "real"]
    for group in ([o for o in unans if o.kind == "off-topic"], [o for o in unans if o.kind == "near-miss"], unans):
        if not group:
            row.append("–")
        elif cal:
            row.append(frac(sum(not (o.answered and o.confident) for o in group), len(group)))
        else:
            row.append("n/a")
    row.append(" / ".join(median_conf([o for o in outcomes if o.kind == kind], cal) for kind in KINDS))
    row.append(video_calibration(outcomes))
    row.append(f"{1000 * statistics.median(o.seconds for o in outcomes):.0f}")
    return row


def video_calibration(outcomes: Sequence[Outcome]) -> str:
    """How well ``video_confidence`` holds on this held-out set: over the top answers of the real questions, the
    mean predicted chance of the right video against the share that is; the same over the unanswerable
    questions (whose answer is never the right video); the ECE over all. "n/a" without a video confidence."""
    from vcval.localization.confidence import expected_calibration_error

    rows = [o for o in outcomes if o.answered]
    if not rows or any(o.video_confidence is None for o in rows):
        return "n/a"
    p = [float(o.video_confidence) for o in rows]
    y = [float(o.kind == "real" and o.expected[0] == o.video_id) for o in rows]
    real = [i for i, o in enumerate(rows) if o.kind == "real"]
    none = [i for i, o in enumerate(rows) if o.kind != "real"]

    def pair(idx: list[int]) -> str:
        if not idx:
            return "–"
        return f"{100 * statistics.mean(p[i] for i in idx):.1f}% / {100 * statistics.mean(y[i] for i in idx):.1f}%"

    return f"{pair(real)}; {pair(none)} (ECE {expected_calibration_error(p, y):.3f})"


HEADERS = ["method", "real: accepted", "accepted: right (IoU>=0.5)", "real: top-1 right (ungated)",
           "off-topic: refused", "near-miss: refused", "all unanswerable: refused",
           "median confidence real / off-topic / near-miss",
           "right video at rank 1, mean video confidence / actual: real; unanswerable (ECE, all)", "median ms/q"]


# --------------------------------------------------------------------------- question sets
def demo_set() -> QuestionSet:
    from vcval.demo import ensure_demo_corpus

    corpus = ensure_demo_corpus()
    return QuestionSet("demo", corpus, demo_labelled(), unanswerable(QUESTIONS_DIR / "demo_offtopic.json"),
                       f"embedded demo corpus, {len(corpus)} videos")


def tutorialvqa_set(sample: int, seed: int) -> QuestionSet:
    ensure_converted()
    built = transcript_corpus(TUTORIALVQA / "transcripts", WORK_DIR / "tutorialvqa")
    logger.info("TutorialVQA corpus (%d videos) %s", len(built.corpus), built.build_line())
    real = seeded_sample(load_labelled(TUTORIALVQA / "test.json"), sample, seed)
    return QuestionSet("tutorialvqa", built.corpus, real, unanswerable(QUESTIONS_DIR / "tutorialvqa_offtopic.json"),
                       f"TutorialVQA transcripts, {len(built.corpus)} videos; real = seeded sample of {len(real)} "
                       f"by-video test questions (seed {seed})")


def medvidqa_set() -> QuestionSet:
    ensure_converted()
    built = transcript_corpus(MEDVIDQA / "transcripts", WORK_DIR / "medvidqa")
    logger.info("MedVidQA corpus (%d videos) %s", len(built.corpus), built.build_line())
    real = load_labelled(MEDVIDQA / "questions_with_transcripts.json")
    return QuestionSet("medvidqa", built.corpus, real, unanswerable(QUESTIONS_DIR / "medvidqa_offtopic.json"),
                       f"MedVidQA transcripts, {len(built.corpus)} videos (never trained or tuned on); real = their "
                       f"{len(real)} train questions")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", nargs="+", default=["default"], choices=list(METHODS),
                    help="one or more methods of vcval.pipeline.METHODS (default: default)")
    ap.add_argument("--tutorialvqa", action="store_true", help="also measure on the TutorialVQA corpus")
    ap.add_argument("--medvidqa", action="store_true", help="also measure on the 29-video MedVidQA corpus")
    ap.add_argument("--skip-demo", action="store_true", help="leave out the demo corpus")
    ap.add_argument("--sample", type=int, default=100, help="TutorialVQA real questions (seeded sample of test)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=5, help="answers asked per question (the top one is judged)")
    ap.add_argument("--out", type=Path, default=WORK_DIR / "refusal", help="per-question JSON rows")
    ap.add_argument("--verbose", action="store_true", help="vcval's own INFO logging too")
    args = ap.parse_args(argv)
    setup_script_logging(args.verbose)

    sets: list[QuestionSet] = []
    if not args.skip_demo:
        sets.append(demo_set())
    if args.tutorialvqa:
        sets.append(tutorialvqa_set(args.sample, args.seed))
    if args.medvidqa:
        sets.append(medvidqa_set())
    if not sets:
        ap.error("nothing to do: --skip-demo without --tutorialvqa or --medvidqa")

    args.out.mkdir(parents=True, exist_ok=True)
    for qs in sets:
        n_off = sum(u["kind"] == "off-topic" for u in qs.unanswerable)
        n_near = len(qs.unanswerable) - n_off
        rows = []
        for method in args.method:
            res = run_method(qs, method, args.k)
            if isinstance(res, str):
                rows.append([method, f"not measured: {res}"] + [""] * (len(HEADERS) - 2))
                continue
            label, outcomes = res
            path = args.out / f"{qs.name}__{method}.json"
            path.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1, ensure_ascii=False) + "\n",
                            encoding="utf-8")
            logger.info("per-question rows: %s", path)
            rows.append(summary_row(label, outcomes))
        print(f"\n### Refusal on {qs.name}: {len(qs.real)} real, {n_off} off-topic, {n_near} near-miss questions\n")
        print(f"{qs.note}. Top answer of k={args.k}; right = expected video and IoU >= {MIN_IOU}.\n")
        print(markdown_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
