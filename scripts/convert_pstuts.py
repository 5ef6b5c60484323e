#!/usr/bin/env python
"""Convert PsTuts-VQA (mbudisic/pstuts-rag redistribution) to vcval's evaluation format.

LICENCE: PsTuts-VQA is CC BY-NC 4.0 (non-commercial). Everything this script writes, and any model
trained on it, carries that restriction; the output folder gets a NOTICE.txt saying so and every
question record has ``"license": "CC BY-NC 4.0"``.

Usage::

    python scripts/convert_pstuts.py --src /work/shared/data/pstuts_vqa --out data/pstuts

Outputs (in ``--out``):

- ``transcripts/<video_id>.json``: one cue per sentence, ``[{"start", "duration", "text"}]``.
- ``train.json`` / ``dev.json`` / ``test.json``: the dataset's own split, which is BY VIDEO (54/11/11).
  MedVidQA-format records: ``question, video_id, answer_start_second, answer_end_second, video_length,
  sample_id`` (``"<split>-<video_id>-<qa index>"``), ``answer_start_cue == answer_end_cue`` (the ONE
  sentence where the annotator asked; often only loosely related to the question: use it for
  retrieval-style training/evaluation, not as a span label), ``answer_label`` (the software-feature
  label ``a``) and ``license``.
- ``videos.json``: ``[{video_id, title, duration, n_sentences}]``; ``NOTICE.txt``.

Times: ``video_length`` is parsed from ``length`` (``HH:MM:SS.ss``); null sentence times are filled
exactly like ``convert_tutorialvqa.fill_times`` (interpolation over the begin/end sequence, ends
raised to their begin). Deterministic: no randomness, input order kept.
"""
from __future__ import annotations

import argparse
import ast
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_tutorialvqa import fill_times, transcript_json  # noqa: E402

logger = logging.getLogger("convert_pstuts")

LICENSE = "CC BY-NC 4.0"
SPLITS = ("train", "dev", "test")
NOTICE = (
    "Derived from PsTuts-VQA (Zhao et al., IJCAI 2020; redistributed by github mbudisic/pstuts-rag).\n"
    "Licence: Creative Commons Attribution-NonCommercial 4.0 (CC BY-NC 4.0),\n"
    "https://creativecommons.org/licenses/by-nc/4.0/legalcode . Non-commercial use only; a model\n"
    "trained on these files carries the same restriction.\n"
)


def parse_length(value: str | float | int) -> float:
    """``"00:06:54.57"`` (or ``"06:54.57"`` / a number) -> seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    seconds = 0.0
    for part in str(value).strip().split(":"):
        seconds = seconds * 60 + float(part)
    return round(seconds, 3)


def _maybe_literal(value: Any) -> Any:
    """Some redistributions store lists as Python-literal strings; decode those."""
    return ast.literal_eval(value) if isinstance(value, str) else value


def convert_video(video: dict, split: str) -> tuple[list[dict], list[dict], dict]:
    """One PsTuts video -> (transcript cues, question records, metadata)."""
    vid = str(video["video_id"])
    sents = sorted(_maybe_literal(video["transcripts"]), key=lambda s: int(s["sent_id"]))
    if [int(s["sent_id"]) for s in sents] != list(range(len(sents))):
        raise ValueError(f"video {vid}: sent_id values are not 0..{len(sents) - 1}")
    times = fill_times(
        [None if s["begin"] is None else float(s["begin"]) for s in sents],
        [None if s["end"] is None else float(s["end"]) for s in sents],
    )
    cues = transcript_json([str(s["sent"]) for s in sents], times)
    length = parse_length(video["length"]) if video.get("length") else max(e for _, e in times)
    records = []
    for i, qa in enumerate(_maybe_literal(video["qa"])):
        k = int(qa["sent_id"])
        if not 0 <= k < len(times):
            raise ValueError(f"video {vid} question {i}: sent_id {k} outside the transcript")
        records.append(
            {
                "sample_id": f"{split}-{vid}-{i}",
                "question": str(qa["q"]).strip(),
                "video_id": vid,
                "answer_start_second": times[k][0],
                "answer_end_second": times[k][1],
                "video_length": length,
                "answer_start_cue": k,
                "answer_end_cue": k,
                "answer_label": qa.get("a"),
                "license": LICENSE,
            }
        )
    meta = {"video_id": vid, "title": str(video.get("title") or vid), "duration": length, "n_sentences": len(sents)}
    return cues, records, meta


def convert(src: Path, out: Path) -> dict:
    """Run the conversion; returns a summary (counts per split)."""
    src, out = Path(src), Path(out)
    (out / "transcripts").mkdir(parents=True, exist_ok=True)
    metas: list[dict] = []
    summary: dict[str, Any] = {"license": LICENSE}
    for split in SPLITS:
        videos = json.loads((src / f"{split}.json").read_text(encoding="utf-8"))
        recs: list[dict] = []
        for video in videos:
            cues, records, meta = convert_video(video, split)
            (out / "transcripts" / f"{meta['video_id']}.json").write_text(
                json.dumps(cues, ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
            )
            recs += records
            metas.append(meta)
        (out / f"{split}.json").write_text(json.dumps(recs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        summary[split] = {"videos": len(videos), "questions": len(recs)}
    (out / "videos.json").write_text(json.dumps(metas, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "NOTICE.txt").write_text(NOTICE, encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=Path("/work/shared/data/pstuts_vqa"))
    ap.add_argument("--out", type=Path, default=Path("data/pstuts"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info(json.dumps(convert(args.src, args.out), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
