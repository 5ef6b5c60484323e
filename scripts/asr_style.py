"""Rewrite a folder of transcripts in the style of YouTube auto-captions (a robustness test set).

Most medical videos on YouTube have only auto-captions: no punctuation, no sentence case, short
rolling cues of about 6-7 words, each shown until the cue after next starts (the style of 19 of the
29 MedVidQA transcripts, ``../shared/data/medvidqa_transcripts/README.txt``). TutorialVQA's
transcripts are punctuated sentences. This script turns them into the auto-caption style, keeping
every word's time (words are spread evenly over their cue), so the questions' answer seconds still
hold and a model can be measured (or trained) on both styles of the same videos.

    .venv/bin/python scripts/asr_style.py data/tutorialvqa/transcripts data/tutorialvqa_asr/transcripts

Deterministic: the cue lengths come from a generator seeded with ``--seed`` and the video id.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import re
from pathlib import Path

logger = logging.getLogger("asr_style")

_PUNCT = re.compile(r"[^\w\s']")


def words_with_times(cues: list[dict]) -> list[tuple[float, str]]:
    """(start second, word) for every word, spread evenly over its cue's duration; punctuation removed."""
    out = []
    for c in cues:
        words = _PUNCT.sub(" ", str(c["text"])).split()
        start, dur = float(c["start"]), max(float(c.get("duration", 0.0)), 0.0)
        out += [(start + dur * i / max(len(words), 1), w) for i, w in enumerate(words)]
    return out


def auto_caption_cues(cues: list[dict], rng: random.Random, lowercase_prob: float = 0.9) -> list[dict]:
    """The cues re-cut as rolling auto-caption cues: 4-9 words each, each lasting until the start of the cue
    after next; words lowercased except (with probability ``1 - lowercase_prob``) capitalised ones."""
    words = words_with_times(cues)
    groups: list[list[tuple[float, str]]] = []
    i = 0
    while i < len(words):
        n = rng.randint(4, 9)
        groups.append(words[i:i + n])
        i += n
    end = max((float(c["start"]) + float(c.get("duration", 0.0)) for c in cues), default=0.0)
    out = []
    for k, g in enumerate(groups):
        start = g[0][0]
        stop = groups[k + 2][0][0] if k + 2 < len(groups) else end
        text = " ".join(w if (w[:1].isupper() and rng.random() > lowercase_prob) else w.lower() for _, w in g)
        out.append({"start": round(start, 3), "duration": round(max(stop - start, 0.1), 3), "text": text})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="folder of <video_id>.json transcripts")
    ap.add_argument("dst", type=Path, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
    files = sorted(args.src.glob("*.json")) if args.src.is_dir() else []
    if not files:
        raise SystemExit(f"asr_style: no <video_id>.json transcripts in {args.src}; give the folder of a converted "
                         "dataset, e.g. data/tutorialvqa/transcripts (scripts/convert_tutorialvqa.py)")
    out = []
    for f in files:  # read and convert everything before writing anything
        digest = hashlib.sha256(f"{args.seed}:{f.stem}".encode()).hexdigest()
        rng = random.Random(int(digest[:16], 16))
        try:
            out.append((f.name, auto_caption_cues(json.loads(f.read_text(encoding="utf-8")), rng)))
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"asr_style: {f} is not a transcript (a JSON list of {{start, duration, text}}): "
                             f"{type(exc).__name__}: {exc}") from exc
    args.dst.mkdir(parents=True, exist_ok=True)
    for name, cues in out:
        (args.dst / name).write_text(json.dumps(cues), encoding="utf-8")
    logger.info("wrote %d auto-caption-style transcripts to %s", len(files), args.dst)


if __name__ == "__main__":
    main()
