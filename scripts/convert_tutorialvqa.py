#!/usr/bin/env python
"""Convert TutorialVQA (onue5/VideoQA) to vcval's evaluation format.

Usage::

    python scripts/convert_tutorialvqa.py --src /work/shared/data/tutorialvqa --out data/tutorialvqa

Inputs (in ``--src``): ``videos.json`` (sentence transcripts, no times), ``{train,dev,test}.json``
(questions; ``answer_start``/``answer_end`` are inclusive sentence indexes) and
``timed_transcripts.events.json`` (the same sentences with begin/end seconds).

Outputs (in ``--out``):

- ``transcripts/<video_id>.json``: one cue per timed sentence,
  ``[{"start": begin, "duration": end - begin, "text": sentence}, ...]``.
- ``videos.json``: ``[{video_id, title, duration, n_sentences}]`` (duration = the last sentence end:
  the dataset gives no video lengths).
- ``train.json`` / ``dev.json`` / ``test.json``: the split BY VIDEO from
  ``scripts/splits/tutorialvqa_video_split.json`` (the questions of all three official files pooled,
  then assigned by their video; train, dev and test videos are disjoint).
- ``official_{train,dev,test}.json``: the official split BY QUESTION. It is LEAKY: the same videos
  appear in train and test, so a model trained on ``official_train`` has read the test transcripts.

Each question record is in the MedVidQA format: ``question, video_id, answer_start_second,
answer_end_second, video_length, sample_id`` plus ``answer_start_cue`` / ``answer_end_cue`` (inclusive
sentence = cue indexes) and ``official_split``. ``sample_id`` is ``"<official split>-<row index>"``.
Questions that are blank (2 rows of the official train file, ``" "``) are dropped and listed in the
summary; every other row is kept, row indexes included.

Time clean-up (deterministic): the timed file has 13 null begin/end values (all in video 4255) and a
few sentences whose end is before their begin. Null times are filled by linear interpolation over
the interleaved sequence ``begin_0, end_0, begin_1, end_1, ...`` between the nearest known values
before and after (copying the nearest known value at either edge); then every end is raised to at
least its begin (zero-length cues rather than negative ones). Times are rounded to milliseconds.
An answer maps to ``[begin(answer_start), max(end(answer_end), begin(answer_start))]``.

The sentence texts of the timed file are checked against ``videos.json`` (the conversion stops if
they differ), so the sentence indexes of the questions address the timed sentences.
"""
from __future__ import annotations

import argparse
import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("convert_tutorialvqa")

SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "tutorialvqa_video_split.json"
OFFICIAL_SPLITS = ("train", "dev", "test")
DEFAULT_SEED = 2024
DEFAULT_N_TEST = 16
DEFAULT_N_DEV = 8


class ConversionError(RuntimeError):
    """The source files are inconsistent (the message says which file and record)."""


def _to_float(value: Any) -> float | None:
    """Parse a time value (string, number or None) to float seconds, or None."""
    if value is None or value == "":
        return None
    return float(value)


def flatten_timed(video: dict) -> list[dict]:
    """Sentences of one timed-transcript video, in order; checks sent_id runs 0..n-1."""
    sentences = [s for seg in video["segments"] for s in seg["sentences"]]
    sentences.sort(key=lambda s: int(s["sent_id"]))
    ids = [int(s["sent_id"]) for s in sentences]
    if ids != list(range(len(ids))):
        raise ConversionError(f"video {video['video_id']}: sent_id values are not 0..{len(ids) - 1}")
    return sentences


def fill_times(begins: Sequence[float | None], ends: Sequence[float | None]) -> list[tuple[float, float]]:
    """Fill null sentence times and clamp negative durations (see the module docstring).

    Returns one ``(begin, end)`` per sentence with ``end >= begin``, rounded to 1 ms.
    """
    if len(begins) != len(ends):
        raise ValueError("begins and ends must have the same length")
    seq: list[float | None] = []
    for b, e in zip(begins, ends):
        seq += [b, e]
    known = [i for i, v in enumerate(seq) if v is not None]
    if not known:
        raise ConversionError("a video has no sentence times at all")
    filled: list[float] = []
    for i, v in enumerate(seq):
        if v is not None:
            filled.append(float(v))
            continue
        before = [k for k in known if k < i]
        after = [k for k in known if k > i]
        if not before:
            filled.append(float(seq[after[0]]))  # type: ignore[arg-type]
        elif not after:
            filled.append(float(seq[before[-1]]))  # type: ignore[arg-type]
        else:
            k0, k1 = before[-1], after[0]
            v0, v1 = float(seq[k0]), float(seq[k1])  # type: ignore[arg-type]
            filled.append(v0 + (v1 - v0) * (i - k0) / (k1 - k0))
    out = []
    for j in range(len(begins)):
        b = round(filled[2 * j], 3)
        e = round(max(filled[2 * j + 1], filled[2 * j]), 3)
        out.append((b, max(e, b)))
    return out


def timed_video_cues(video: dict) -> tuple[list[str], list[tuple[float, float]]]:
    """Sentence texts and their cleaned ``(begin, end)`` times for one timed video."""
    sentences = flatten_timed(video)
    texts = [str(s["sent"]) for s in sentences]
    times = fill_times([_to_float(s["begin"]) for s in sentences], [_to_float(s["end"]) for s in sentences])
    return texts, times


def transcript_json(texts: Sequence[str], times: Sequence[tuple[float, float]]) -> list[dict]:
    """The youtube-transcript-api shape: ``[{"start", "duration", "text"}]`` (one cue per sentence)."""
    return [
        {"start": b, "duration": round(e - b, 3), "text": t} for t, (b, e) in zip(texts, times)
    ]


def check_texts(videos: list[dict], timed: dict[str, list[str]]) -> None:
    """Raise ConversionError unless every videos.json transcript equals its timed sentences."""
    for v in videos:
        vid = str(v["video_id"])
        if vid not in timed:
            raise ConversionError(f"video {vid} of videos.json is missing from the timed transcripts")
        if list(v["transcript"]) != timed[vid]:
            raise ConversionError(
                f"video {vid}: videos.json transcript differs from timed_transcripts sentences; "
                "the answer sentence indexes would point to the wrong text"
            )


def convert_question(
    q: dict, sample_id: str, official_split: str, times: Sequence[tuple[float, float]], video_length: float
) -> dict:
    """One TutorialVQA question -> a MedVidQA-format record (seconds + cue indexes)."""
    s, e = int(q["answer_start"]), int(q["answer_end"])
    if not 0 <= s <= e < len(times):
        raise ConversionError(
            f"question {sample_id} (video {q['video_id']}): answer sentences [{s}, {e}] outside 0..{len(times) - 1}"
        )
    start = times[s][0]
    end = max(times[e][1], start)
    return {
        "sample_id": sample_id,
        "question": str(q["question"]).strip(),
        "video_id": str(q["video_id"]),
        "answer_start_second": start,
        "answer_end_second": end,
        "video_length": video_length,
        "answer_start_cue": s,
        "answer_end_cue": e,
        "official_split": official_split,
    }


def make_video_split(
    video_ids: Sequence[str], *, seed: int = DEFAULT_SEED, n_test: int = DEFAULT_N_TEST, n_dev: int = DEFAULT_N_DEV
) -> dict:
    """A seeded split of videos: ``{"seed", "train", "dev", "test"}`` (sorted id lists, disjoint).

    The ids are sorted before a ``random.Random(seed)`` shuffle, so the result depends only on the
    set of ids and the seed. dev is carved out of the non-test videos (for model selection).
    """
    ids = sorted(set(str(v) for v in video_ids), key=lambda x: (len(x), x))
    if n_test + n_dev >= len(ids):
        raise ValueError(f"cannot take {n_test} test + {n_dev} dev videos out of {len(ids)}")
    rng = random.Random(seed)
    shuffled = ids[:]
    rng.shuffle(shuffled)
    test = shuffled[:n_test]
    dev = shuffled[n_test : n_test + n_dev]
    train = shuffled[n_test + n_dev :]
    key = lambda x: (len(x), x)  # noqa: E731 - numeric-looking ids sort numerically
    return {"seed": seed, "train": sorted(train, key=key), "dev": sorted(dev, key=key), "test": sorted(test, key=key)}


def load_split(path: Path, video_ids: Sequence[str]) -> dict:
    """Read a committed split and check it partitions exactly ``video_ids``."""
    split = json.loads(Path(path).read_text(encoding="utf-8"))
    parts = [set(split[k]) for k in ("train", "dev", "test")]
    union = set().union(*parts)
    if sum(len(p) for p in parts) != len(union):
        raise ConversionError(f"{path}: train/dev/test video lists overlap")
    if union != set(video_ids):
        raise ConversionError(
            f"{path}: the split's videos differ from the dataset's "
            f"({len(union - set(video_ids))} unknown, {len(set(video_ids) - union)} missing); rerun with --new-split"
        )
    return split


def convert(
    src: Path, out: Path, *, split_path: Path = SPLIT_FILE, new_split: bool = False, seed: int = DEFAULT_SEED
) -> dict:
    """Run the whole conversion; returns a summary dict (counts per output file)."""
    src, out = Path(src), Path(out)
    videos = json.loads((src / "videos.json").read_text(encoding="utf-8"))
    timed_raw = json.loads((src / "timed_transcripts.events.json").read_text(encoding="utf-8"))
    timed: dict[str, tuple[list[str], list[tuple[float, float]]]] = {}
    titles: dict[str, str] = {}
    for v in timed_raw:
        vid = str(v["video_id"])
        timed[vid] = timed_video_cues(v)
        titles[vid] = str(v.get("video_title") or vid)
    check_texts(videos, {k: t for k, (t, _) in timed.items()})
    video_ids = sorted(timed, key=lambda x: (len(x), x))

    (out / "transcripts").mkdir(parents=True, exist_ok=True)
    lengths: dict[str, float] = {}
    meta = []
    for vid in video_ids:
        texts, times = timed[vid]
        lengths[vid] = max(e for _, e in times)
        (out / "transcripts" / f"{vid}.json").write_text(
            json.dumps(transcript_json(texts, times), ensure_ascii=False, indent=0) + "\n", encoding="utf-8"
        )
        meta.append({"video_id": vid, "title": titles[vid], "duration": lengths[vid], "n_sentences": len(texts)})
    (out / "videos.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    official: dict[str, list[dict]] = {}
    dropped: list[str] = []  # blank questions (2 in the official train file)
    for name in OFFICIAL_SPLITS:
        rows = json.loads((src / f"{name}.json").read_text(encoding="utf-8"))
        recs = []
        for i, q in enumerate(rows):
            if not str(q.get("question") or "").strip():
                dropped.append(f"{name}-{i}")
                continue
            vid = str(q["video_id"])
            if vid not in timed:
                raise ConversionError(f"{name}.json row {i}: unknown video {vid}")
            recs.append(convert_question(q, f"{name}-{i}", name, timed[vid][1], lengths[vid]))
        official[name] = recs

    if new_split or not Path(split_path).exists():
        split = make_video_split(video_ids, seed=seed)
        Path(split_path).parent.mkdir(parents=True, exist_ok=True)
        Path(split_path).write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
        logger.info("wrote a new video split to %s", split_path)
    else:
        split = load_split(Path(split_path), video_ids)
    owner = {vid: part for part in ("train", "dev", "test") for vid in split[part]}
    by_video: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for name in OFFICIAL_SPLITS:
        for rec in official[name]:
            by_video[owner[rec["video_id"]]].append(rec)

    summary: dict[str, Any] = {"videos": len(video_ids), "files": {}}
    for name, recs in list(by_video.items()) + [(f"official_{k}", v) for k, v in official.items()]:
        (out / f"{name}.json").write_text(json.dumps(recs, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        summary["files"][f"{name}.json"] = {
            "questions": len(recs),
            "videos": len({r["video_id"] for r in recs}),
        }
    summary["dropped_blank_questions"] = dropped
    summary["split_videos"] = {k: len(split[k]) for k in ("train", "dev", "test")}
    summary["filled_null_times"] = sum(
        1 for v in timed_raw for seg in v["segments"] for s in seg["sentences"] for k in ("begin", "end") if s[k] is None
    )
    summary["official_split_by_video"] = {
        name: dict(Counter(owner[r["video_id"]] for r in official[name])) for name in OFFICIAL_SPLITS
    }
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", type=Path, default=Path("/work/shared/data/tutorialvqa"))
    ap.add_argument("--out", type=Path, default=Path("data/tutorialvqa"))
    ap.add_argument("--split", type=Path, default=SPLIT_FILE, help="committed video split (JSON)")
    ap.add_argument("--new-split", action="store_true", help="(re)generate the video split with --seed")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = convert(args.src, args.out, split_path=args.split, new_split=args.new_split, seed=args.seed)
    logger.info(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
