"""Which videos the default pipeline puts first instead of the right one: the most frequent (right video,
video ranked first) pairs, with titles, on the TutorialVQA by-video test and MedVidQA.

    HF_HUB_OFFLINE=1 .venv/bin/python scripts/retrieval_confusions.py --out benchmarks/retrieval_confusions.md

A diagnostic for the video-retrieval targets (issue 11): when most rank-1 misses are between two videos on the
same topic, the miss is often a right answer in a near-duplicate video rather than a retrieval failure. Also
printed: video R@1 as measured, and R@1 if the listed most frequent pairs counted as one video (an upper
bound of what telling those pairs apart could add, not a metric of the system).
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from vcval.utils import setup_script_logging

logger = logging.getLogger("retrieval_confusions")

ROOT = Path(__file__).resolve().parent.parent
SETS = {  # name: (questions, transcripts, videos.json, sample)
    "TutorialVQA by-video test": ("data/tutorialvqa/test.json", "data/tutorialvqa/transcripts",
                                  "data/tutorialvqa/videos.json", 300),
    "MedVidQA (29 videos)": ("data/medvidqa/questions_with_transcripts.json", "data/medvidqa/transcripts",
                             "data/medvidqa/videos.json", None),
}


def confusions(pairs: Sequence[tuple[str, str]], top: int) -> tuple[list[tuple[frozenset[str], int]], float, float]:
    """(the ``top`` most frequent unordered {right, first} pairs among misses with their counts, R@1 in percent,
    R@1 in percent if those pairs counted as one video) for (right video, video ranked first) per question."""
    n = len(pairs)
    misses = collections.Counter(frozenset(p) for p in pairs if p[0] != p[1])
    common = misses.most_common(top)
    hits = sum(a == b for a, b in pairs)
    return common, 100 * hits / max(n, 1), 100 * (hits + sum(c for _, c in common)) / max(n, 1)


def run(name: str, questions: str, transcripts: str, videos: str, sample: int | None, seed: int,
        top: int) -> list[str]:
    from vcval.evaluation.questions import load_questions, seeded_sample
    from vcval.evaluation.runner import Evaluator
    from vcval.pipeline import build_pipeline

    corpus = Evaluator(ROOT / transcripts).corpus
    qa = build_pipeline(corpus, "default")
    titles = {v["video_id"]: v["title"] for v in json.loads((ROOT / videos).read_text(encoding="utf-8"))}
    qs = load_questions(ROOT / questions)
    qs = seeded_sample(qs, sample, seed)  # the same selection as `vcval eval --sample N --seed S`
    pairs = []
    for q in qs:
        answers = qa.ask(q.question, k=1)
        pairs.append((q.video_id, answers[0].video_id if answers else ""))
    common, r1, r1_merged = confusions(pairs, top)
    n_miss = sum(a != b for a, b in pairs)
    lines = [f"## {name}: {len(qs)} questions, {n_miss} rank-1 misses", "",
             "| misses | video | the other video (either one was the right one, the other ranked first) |", "|---|---|---|"]

    def cell(video_id: str) -> str:  # a title may hold "|" (MedVidQA does): escaped for the table
        return f"{' '.join(titles.get(video_id, video_id).split())} (`{video_id}`)".replace("|", "\\|")

    for pair, count in common:
        a, b = sorted(pair)
        lines.append(f"| {count} | {cell(a)} | {cell(b)} |")
    lines += ["", f"Video R@1 {r1:.1f}; {r1_merged:.1f} if the {len(common)} pairs above counted as one video.", ""]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=8, help="pairs listed per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write the markdown here (default: stdout)")
    ap.add_argument("--verbose", action="store_true", help="vcval's own INFO logging too")
    args = ap.parse_args(argv)
    setup_script_logging(args.verbose)
    lines = ["# Rank-1 video misses of the default pipeline, by pair", "",
             "`HF_HUB_OFFLINE=1 .venv/bin/python scripts/retrieval_confusions.py --out "
             "benchmarks/retrieval_confusions.md` (the shipped default: hybrid retrieval + CueSpan; the same "
             "questions as benchmarks/RESULTS.md). Pairs are unordered: either video may be the right one.", ""]
    for name, (questions, transcripts, videos, sample) in SETS.items():
        if not (ROOT / questions).is_file():
            raise SystemExit(f"{questions} not found: run scripts/convert_tutorialvqa.py and "
                             "scripts/convert_medvidqa.py first")
        lines += run(name, questions, transcripts, videos, sample, args.seed, args.top)
    text = "\n".join(lines)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
        logger.info("wrote %s", args.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
