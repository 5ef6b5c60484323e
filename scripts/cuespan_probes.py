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

    .venv/bin/python scripts/cuespan_probes.py --checkpoints checkpoints/cuespan runs/titled/t50/best \
        [--sample 941] [--around 2] [--fillers questions|train] [--out benchmarks/cuespan_probes.md]

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
PROBES = ("single", "long", "titled", "titled_unseen")
UNSEEN_TEMPLATE = "{q} in a video about {t}?"  # a form the topic augmentation (TITLE_TEMPLATES) never trains on


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoints", nargs="+", required=True, help="CueSpan checkpoint folders; the first is the reference")
    ap.add_argument("--questions", default="data/tutorialvqa/dev.json")
    ap.add_argument("--transcripts", default="data/tutorialvqa/transcripts")
    ap.add_argument("--sample", type=int, default=0, help="seeded sample of this many questions (0: all)")
    ap.add_argument("--around", type=int, default=2, help="other videos each question's video is played among")
    ap.add_argument("--fillers", choices=("questions", "train"), default="questions",
                    help="draw the other videos from the questions' own videos, or from --train's videos")
    ap.add_argument("--train", default="data/tutorialvqa/train.json")
    ap.add_argument("--titles", default="data/tutorialvqa/videos.json",
                    help="[{video_id, title}] JSON for the titled probe")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="append the table to this markdown file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from vcval.models.cuespan import load_cuespan
    from vcval.training.trainer_cuespan import (
        TITLE_TEMPLATES,
        TrainingData,
        load_titles,
        long_layout,
        oracle_eval,
        titled_questions,
    )

    data = TrainingData(args.transcripts)
    questions = [q for q in load_questions(args.questions) if q.video_id in data.units]
    if args.sample and args.sample < len(questions):
        questions = random.Random(args.seed).sample(questions, args.sample)
    qvec = data.question_vectors(questions)
    pool = (sorted({q.video_id for q in questions}) if args.fillers == "questions"
            else sorted({q.video_id for q in load_questions(args.train)} & set(data.units)))
    layout = long_layout(questions, pool, args.around, seed=args.seed)
    videos = [q.video_id for q in questions]
    titles = load_titles(args.titles)
    titled = {t: titled_questions(questions, titles, t) for t in (TITLE_TEMPLATES[0], UNSEEN_TEMPLATE)}
    tvec = {t: data.question_vectors(qs) for t, qs in titled.items()}
    per: dict[str, dict[str, np.ndarray]] = {}
    lines = [f"{len(questions)} questions of {args.questions} over {len(set(videos))} videos; long: each video "
             f"between {args.around} others from the {args.fillers} videos (seed {args.seed}).", "",
             "| checkpoint | " + " | ".join(f"{p} mIoU | {p} IoU>=.5" for p in PROBES) + " | "
             + " | ".join(f"{p} diff [95% by video]" for p in PROBES) + " |", "|---" * (1 + 3 * len(PROBES)) + "|"]
    for path in args.checkpoints:
        model = load_cuespan(path)
        per[path] = {}
        probes = (("single", questions, qvec, None), ("long", questions, qvec, layout),
                  ("titled", titled[TITLE_TEMPLATES[0]], tvec[TITLE_TEMPLATES[0]], None),
                  ("titled_unseen", titled[UNSEEN_TEMPLATE], tvec[UNSEEN_TEMPLATE], None))
        for name, qs, vec, around in probes:
            ious: list[float] = []
            oracle_eval(model, data, qs, vec, around=around, per_question=ious)
            per[path][name] = np.array(ious)
        cells = []
        for name in PROBES:
            x = per[path][name]
            cells += [f"{100 * x.mean():.2f}", f"{100 * (x >= 0.5).mean():.2f}"]
        diffs = []
        for name in PROBES:
            mean, lo, hi = paired_bootstrap(100 * per[args.checkpoints[0]][name], 100 * per[path][name],
                                            groups=videos)
            diffs.append(f"{mean:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        lines.append(f"| `{path}` | " + " | ".join(cells + diffs) + " |")
        logger.info("%s", lines[-1])
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
