#!/usr/bin/env python
"""Prepare MedVidQA for vcval evaluation (the MedVidCQA setting) and compute answer priors.

Usage::

    python scripts/convert_medvidqa.py --src /work/shared/data/medvidqa \
        --transcripts /work/shared/data/medvidqa_transcripts --out data/medvidqa

Outputs (in ``--out``):

- ``questions_with_transcripts.json``: the TRAIN questions whose video has a transcript in
  ``--transcripts`` (MedVidQA records unchanged, in file order; the annotation format is already
  vcval's question format). The val split has no transcribed video here.
- ``transcripts/<video_id>.json``: byte-for-byte copies of those transcripts (youtube-transcript-api
  format). Only videos that some train question points to are copied.
- ``videos.json``: ``[{video_id, title, duration}]`` for the copied videos (title from
  ``meta/medvidqa_video_catalog.json`` when present, duration = the annotation's ``video_length``).
- ``offtopic_questions.json``: ``[{question}]``, the distinct train questions of videos WITHOUT a
  transcript here (out-of-domain "no answer" examples for calibrating confidence on other corpora).
- ``priors.json``: answer length and relative position statistics over ALL train annotations
  (seconds and fractions of ``video_length``): count, mean, std, min, max, and the 5/10/25/50/75/90/95th
  percentiles (linear interpolation), plus a 10-bin histogram of the relative answer start. A localizer
  may use these as a prior; they never look at the evaluation questions' spans beyond the train set.

Deterministic: no randomness; output order follows the input files; JSON is written with sorted keys
where the input gives no order.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("convert_medvidqa")

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
REQUIRED = ("question", "video_id", "answer_start_second", "answer_end_second")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already-sorted values, linear interpolation (numpy's default)."""
    if not sorted_values:
        raise ValueError("percentile of an empty list")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo))


def describe(values: Sequence[float]) -> dict[str, float]:
    """count, mean, std (population), min, max and percentiles of ``values``."""
    v = sorted(float(x) for x in values)
    n = len(v)
    mean = sum(v) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / n)
    out: dict[str, float] = {"count": n, "mean": round(mean, 6), "std": round(std, 6), "min": v[0], "max": v[-1]}
    for q in PERCENTILES:
        out[f"p{q}"] = round(percentile(v, q), 6)
    return out


def answer_priors(annotations: Sequence[dict], bins: int = 10) -> dict[str, Any]:
    """Answer length / position statistics of MedVidQA-format annotations (needs ``video_length``)."""
    rows = [a for a in annotations if float(a.get("video_length") or 0) > 0]
    if not rows:
        raise ValueError("no annotation has a positive video_length")
    length = [float(a["answer_end_second"]) - float(a["answer_start_second"]) for a in rows]
    vlen = [float(a["video_length"]) for a in rows]
    rel_len = [span / v for span, v in zip(length, vlen)]
    rel_start = [min(float(a["answer_start_second"]) / v, 1.0) for a, v in zip(rows, vlen)]
    rel_end = [min(float(a["answer_end_second"]) / v, 1.0) for a, v in zip(rows, vlen)]
    rel_center = [(s + e) / 2 for s, e in zip(rel_start, rel_end)]
    hist = [0] * bins
    for s in rel_start:
        hist[min(int(s * bins), bins - 1)] += 1
    return {
        "n_annotations": len(rows),
        "answer_length_seconds": describe(length),
        "answer_length_fraction": describe(rel_len),
        "answer_start_fraction": describe(rel_start),
        "answer_end_fraction": describe(rel_end),
        "answer_center_fraction": describe(rel_center),
        "video_length_seconds": describe(vlen),
        "answer_start_fraction_histogram": {"bins": bins, "counts": hist},
        "log_length_vs_log_duration": length_regression(length, vlen),
    }


def length_regression(length: Sequence[float], duration: Sequence[float]) -> dict[str, float]:
    """Least squares log(answer s) = intercept + slope * log(video s) (answers floored at 1 s).

    Also the residual log-sigma, the median video length as a reference and the fitted median answer
    length there: a localizer serving other videos can scale its expected answer length as
    ``median_length_at_reference_s * (duration / reference_duration_s) ** slope``.
    """
    y = np.log(np.maximum(np.asarray(length, float), 1.0))
    x = np.log(np.asarray(duration, float))
    slope, intercept = (float(c) for c in np.polyfit(x, y, 1))
    resid = y - (intercept + slope * x)
    ref = float(np.median(duration))
    return {"slope": round(slope, 4), "intercept": round(intercept, 4), "resid_log_sigma": round(float(resid.std()), 4),
            "reference_duration_s": round(ref, 2),
            "median_length_at_reference_s": round(float(np.exp(intercept + slope * np.log(ref))), 2)}


def select_with_transcripts(annotations: Sequence[dict], transcript_ids: set[str]) -> list[dict]:
    """The annotations whose ``video_id`` has a transcript, in input order (checks required fields)."""
    out = []
    for i, a in enumerate(annotations):
        missing = [k for k in REQUIRED if k not in a]
        if missing:
            raise ValueError(f"annotation {i} lacks {missing}")
        if str(a["video_id"]) in transcript_ids:
            out.append(a)
    return out


def convert(src: Path, transcripts: Path, out: Path) -> dict:
    """Run the conversion; returns a summary (counts)."""
    src, transcripts, out = Path(src), Path(transcripts), Path(out)
    train = json.loads((src / "train.json").read_text(encoding="utf-8"))
    available = {p.stem for p in transcripts.glob("*.json")}
    selected = select_with_transcripts(train, available)
    used = sorted({str(a["video_id"]) for a in selected})

    catalog_path = transcripts / "meta" / "medvidqa_video_catalog.json"
    titles: dict[str, str] = {}
    if catalog_path.exists():
        catalog = json.loads(catalog_path.read_text(encoding="utf-8"))
        titles = {str(d["video_id"]): str(d.get("title") or "") for d in catalog.get("documents", [])}
    lengths = {str(a["video_id"]): float(a["video_length"]) for a in selected}

    (out / "transcripts").mkdir(parents=True, exist_ok=True)
    for vid in used:
        shutil.copyfile(transcripts / f"{vid}.json", out / "transcripts" / f"{vid}.json")
    meta = [{"video_id": v, "title": titles.get(v) or v, "duration": lengths[v]} for v in used]
    (out / "videos.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "questions_with_transcripts.json").write_text(
        json.dumps(selected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    # questions only, of videos we have no transcript of: "no answer here" examples for calibrating
    # confidence on non-medical corpora (never the 29 transcribed videos' questions)
    offtopic = sorted({str(a["question"]).strip() for a in train if str(a["video_id"]) not in set(used)})
    (out / "offtopic_questions.json").write_text(
        json.dumps([{"question": q} for q in offtopic], ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    priors = answer_priors(train)
    priors["source"] = "MedVidQA train.json (all annotations)"
    (out / "priors.json").write_text(json.dumps(priors, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return {
        "train_annotations": len(train),
        "transcripts_available": len(available),
        "questions_with_transcripts": len(selected),
        "videos_with_transcripts": len(used),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=Path("/work/shared/data/medvidqa"))
    ap.add_argument("--transcripts", type=Path, default=Path("/work/shared/data/medvidqa_transcripts"))
    ap.add_argument("--out", type=Path, default=Path("data/medvidqa"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info(json.dumps(convert(args.src, args.transcripts, args.out), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
