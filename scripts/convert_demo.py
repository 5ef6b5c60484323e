#!/usr/bin/env python
"""Export the embedded demo corpus as an evaluation set, so ``vcval eval`` and RESULTS.md can score it.

Usage::

    python scripts/convert_demo.py [--out data/demo]

Outputs (in ``--out``): ``transcripts/<slug>.json`` (the demo ``.srt`` subtitles parsed by
``vcval.ingest.subtitles.parse_subtitles``, written as ``[{start, duration, text}]``) and
``questions.json`` (the 24 example questions of ``assets/demo/questions.json`` in the MedVidQA
question format, the video's catalog duration as ``video_length``). Deterministic.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.demo import demo_catalog, demo_questions  # noqa: E402
from vcval.ingest.subtitles import parse_subtitles  # noqa: E402

logger = logging.getLogger("convert_demo")


def convert(out: Path) -> int:
    """Write the transcripts and questions under ``out``; returns the number of questions."""
    (out / "transcripts").mkdir(parents=True, exist_ok=True)
    durations = {}
    for video in demo_catalog():
        cues = parse_subtitles(video.subtitles)
        rows = [{"start": round(c.start, 3), "duration": round(c.end - c.start, 3), "text": c.text} for c in cues]
        (out / "transcripts" / f"{video.slug}.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
        durations[video.slug] = video.duration
    questions = [
        {"sample_id": f"demo-{i}", "question": q.question, "video_id": q.slug,
         "answer_start_second": q.answer_start, "answer_end_second": q.answer_end,
         "video_length": durations[q.slug]}
        for i, q in enumerate(demo_questions())
    ]
    (out / "questions.json").write_text(json.dumps(questions, indent=1), encoding="utf-8")
    logger.info("wrote %d transcripts and %d questions to %s", len(durations), len(questions), out)
    return len(questions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "demo")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    convert(args.out)


if __name__ == "__main__":
    main()
