#!/usr/bin/env python
"""Probes of how CueSpan checkpoints localize inside the right video when questions and videos look medical.

The medical YouTube videos vcval is judged on differ from TutorialVQA in two ways that a probe can copy
from TutorialVQA dev (all four are the model's own argmax inside the right video, ``oracle_eval``: no
retrieval, no serving rules):

- ``single``: the dev questions as they are.
- ``long``: long videos. TutorialVQA videos are short (median 46 sentence units), medical ones run to
  800 s and 270 units. Each dev question's video is played between ``--around`` other videos (seeded, the
  same layout for every checkpoint) as one long video.
- ``titled``: questions that restate their video's topic, as MedVidQA's do ("How to perform wrist extensions
  to fix wrist pain?"): "<question> to <video title>?". The topic words match the video's introduction and
  overview, which then draw the span.
- ``titled_unseen``: the same in a form that the topic augmentation (``title_prob``) never trains on:
  "<question> in a video about <video title>?".
- ``siblings`` (asked for with ``--probes``): ``long`` with the ``--around`` videos closest in topic to the
  question's own (cosine of their mean sentence vectors) instead of random ones, so the topic words no longer tell
  the answer's stretch apart: a medical video that shows five exercises for one pain, in miniature.

    .venv/bin/python scripts/cuespan_probes.py --checkpoints checkpoints/cuespan runs/titled/t50/best \
        [--sample 941] [--around 2] [--fillers questions|train] [--out benchmarks/cuespan_probes.md]
    .venv/bin/python scripts/cuespan_probes.py --oof model qtt --sample 300   # out of fold (scripts/cuespan_oof.py)
    .venv/bin/python scripts/cuespan_probes.py --checkpoints checkpoints/cuespan --goal-split
    .venv/bin/python scripts/cuespan_probes.py --checkpoints checkpoints/cuespan --goal-split --probes single \
        --questions data/pstuts/dev.json --transcripts data/pstuts/transcripts

``--goal-split``: each checkpoint is probed twice, the second time (row "<checkpoint> + goal_split") with the spans
of a "how ... <step> to <goal>?" question placed by its step alone (``vcval.localization.question_form.step_of``,
the serving rule ``CueSpanInference.goal_split``). ``--probes`` picks probes; a set without video titles (PsTuts)
takes ``--probes single``.

``--oof``: the 52 TutorialVQA train videos in 4 folds, each fold's model (one per recipe NAME) probed on its own
held-out questions only, so every question meets a model that never saw its video; 52 videos instead of dev's 8.

Prints (and appends to ``--out``) mIoU and IoU>=0.5 (in %) per checkpoint and probe, and each checkpoint's
paired mIoU difference from the first with a 95% interval from resampling videos.
"""
from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.evaluation.metrics import paired_bootstrap  # noqa: E402
from vcval.evaluation.questions import load_questions  # noqa: E402

logger = logging.getLogger("cuespan_probes")
PROBES = ("single", "long", "titled", "titled_unseen", "siblings")
DEFAULT_PROBES = PROBES[:4]
UNSEEN_TEMPLATE = "{q} in a video about {t}?"  # a form the topic augmentation (TITLE_TEMPLATES) never trains on


def sibling_layout(data, questions: list, pool: list[str], n: int, seed: int = 0) -> list[tuple[list[str], int]]:
    """Per question, (the ``n`` videos of ``pool`` closest in topic to its own, its seeded position among them):
    the ``siblings`` probe's layout (same form as :func:`vcval.training.trainer_cuespan.long_layout`)."""
    def centroid(vid: str) -> np.ndarray:
        v = data.units[vid].vectors.mean(0)
        return v / max(float(np.linalg.norm(v)), 1e-9)

    cents = {v: centroid(v) for v in set(pool) | {q.video_id for q in questions}}
    rng = random.Random(seed)
    layout = []
    for q in questions:
        others = sorted((v for v in pool if v != q.video_id), key=lambda v: -float(cents[v] @ cents[q.video_id]))[:n]
        if len(others) < n:
            raise ValueError(f"the siblings probe needs {n} other videos per question; the pool has {len(others)}")
        layout.append((others, rng.randint(0, n)))
    return layout


def by_step(questions: list) -> list:
    """``questions`` with each "how ... <step> to <goal>?" question asked by its step alone (the ``goal_split``
    serving rule); answers kept."""
    from dataclasses import replace

    from vcval.localization.question_form import step_of

    return [replace(q, question=step_of(q.question) or q.question) for q in questions]


def probe_group(data, questions: list, checkpoints: list[str], args: argparse.Namespace) -> dict[str, dict[str, np.ndarray]]:
    """{checkpoint: {probe: (Q,) IoU per question}} of ``checkpoints`` on ``questions`` (see module doc); with
    ``--goal-split`` also {checkpoint + " + goal_split": ...}."""
    from vcval.localization.cuespan import load_question_tower
    from vcval.models.cuespan import load_cuespan
    from vcval.training.trainer_cuespan import TITLE_TEMPLATES, load_titles, long_layout, oracle_eval, titled_questions

    pool = (sorted({q.video_id for q in questions}) if args.fillers == "questions"
            else sorted({q.video_id for q in load_questions(args.train)} & set(data.units)))
    layouts = {"long": long_layout(questions, pool, args.around, seed=args.seed)}
    if "siblings" in args.probes:
        layouts["siblings"] = sibling_layout(data, questions, pool, args.around, seed=args.seed)
    titles = load_titles(args.titles)
    titled = {t: titled_questions(questions, titles, t) for t in (TITLE_TEMPLATES[0], UNSEEN_TEMPLATE)}
    per: dict[str, dict[str, np.ndarray]] = {}
    for path in checkpoints:
        model = load_cuespan(path)
        tower = load_question_tower(path)  # a checkpoint with its own question encoder reads its vectors
        sets = {"single": questions, "long": questions, "titled": titled[TITLE_TEMPLATES[0]],
                "titled_unseen": titled[UNSEEN_TEMPLATE], "siblings": questions}
        for label, asked in ((path, lambda qs: qs), (f"{path} + goal_split", by_step))[: 1 + bool(args.goal_split)]:
            per[label] = {}
            vectors: dict[tuple[str, ...], np.ndarray] = {}  # single, long and siblings ask the same questions
            for name in args.probes:
                qs = asked(sets[name])
                texts = tuple(q.question for q in qs)
                if texts not in vectors:
                    vectors[texts] = (data.question_vectors(qs) if tower is None  # packaged encoder, cached on disk
                                      else np.asarray(tower.encode(list(texts)), np.float32))
                vec = vectors[texts]
                ious: list[float] = []
                oracle_eval(model, data, qs, vec, around=layouts.get(name), per_question=ious)
                per[label][name] = np.array(ious)
            logger.info("%s: %s", label, {k: round(100 * float(v.mean()), 2) for k, v in per[label].items()})
    return per


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", help="CueSpan checkpoint folders; the first is the reference")
    ap.add_argument("--oof", nargs="+", metavar="NAME",
                    help="instead of --checkpoints: the out-of-fold fold models runs/oof/fold<i>/<NAME>/best "
                         "(scripts/cuespan_oof.py train --name NAME), each fold's model on its own held-out "
                         "questions; the first NAME is the reference")
    ap.add_argument("--k", type=int, default=4, help="--oof: number of folds")
    ap.add_argument("--questions", default="data/tutorialvqa/dev.json")
    ap.add_argument("--transcripts", default="data/tutorialvqa/transcripts")
    ap.add_argument("--sample", type=int, default=0,
                    help="seeded sample of this many questions (0: all); with --oof, per fold")
    ap.add_argument("--around", type=int, default=2, help="other videos each question's video is played among")
    ap.add_argument("--fillers", choices=("questions", "train"), default="questions",
                    help="draw the other videos from the questions' own videos, or from --train's videos")
    ap.add_argument("--train", default="data/tutorialvqa/train.json")
    ap.add_argument("--titles", default="data/tutorialvqa/videos.json",
                    help="[{video_id, title}] JSON for the titled probe")
    ap.add_argument("--probes", nargs="+", choices=PROBES, default=list(DEFAULT_PROBES))
    ap.add_argument("--goal-split", action="store_true",
                    help="also probe each checkpoint with split questions asked by their step (see module doc)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="append the table to this markdown file")
    args = ap.parse_args()
    if bool(args.checkpoints) == bool(args.oof):
        ap.error("give --checkpoints or --oof")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from vcval.training.trainer_cuespan import TrainingData

    data = TrainingData(args.transcripts)
    if args.oof:  # (questions file, checkpoints, column labels) per fold
        groups = [(ROOT / f"runs/oof/fold{i}/heldout.json", [str(ROOT / f"runs/oof/fold{i}/{n}/best") for n in args.oof])
                  for i in range(args.k)]
        labels = [f"out of fold: {n}" for n in args.oof]
    else:
        groups = [(Path(args.questions), args.checkpoints)]
        labels = args.checkpoints
    if args.goal_split:
        labels = [x for label in labels for x in (label, f"{label} + goal_split")]
    per: dict[str, dict[str, list[float]]] = {label: {p: [] for p in args.probes} for label in labels}
    videos: list[str] = []
    for qfile, checkpoints in groups:
        questions = [q for q in load_questions(qfile) if q.video_id in data.units]
        if args.sample and args.sample < len(questions):
            questions = random.Random(args.seed).sample(questions, args.sample)
        videos += [q.video_id for q in questions]
        result = probe_group(data, questions, checkpoints, args)
        keys = [x for c in checkpoints for x in ((c, f"{c} + goal_split") if args.goal_split else (c,))]
        for label, path in zip(labels, keys):
            for name in args.probes:
                per[label][name] += list(result[path][name])
    where = (f"out of fold: {args.k} folds of runs/oof/fold<i>/heldout.json" + (f", {args.sample} per fold" if args.sample else "")
             if args.oof else str(args.questions))
    lines = [f"{len(videos)} questions of {where} over {len(set(videos))} videos; long: each video "
             f"between {args.around} others from the {args.fillers} videos (seed {args.seed}).", "",
             "| checkpoint | " + " | ".join(f"{p} mIoU | {p} IoU>=.5" for p in args.probes) + " | "
             + " | ".join(f"{p} diff [95% by video]" for p in args.probes) + " |", "|---" * (1 + 3 * len(args.probes)) + "|"]
    for label in labels:
        cells = []
        for name in args.probes:
            x = np.array(per[label][name])
            cells += [f"{100 * x.mean():.2f}", f"{100 * (x >= 0.5).mean():.2f}"]
        diffs = []
        for name in args.probes:
            mean, lo, hi = paired_bootstrap(100 * np.array(per[labels[0]][name]), 100 * np.array(per[label][name]),
                                            groups=videos)
            diffs.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        lines.append(f"| `{label}` | " + " | ".join(cells + diffs) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
