"""Merge subtitle cue fragments into sentence-like units.

YouTube auto-captions arrive as short, overlapping, unpunctuated fragments; manual subtitles
are usually whole sentences. Localizers score spans over *units*, so an answer span always
starts and ends on a unit boundary. A unit closes when

* its text ends with sentence punctuation (``. ? !``) - always, however short;
* the pause before the next cue is at least ``pause_s`` and the unit is at least
  ``min_seconds`` long and has at least ``min_words`` words;
* adding the next cue would make it longer than ``max_seconds`` (a unit of one cue may be
  longer than that).

Overlapping cues are first trimmed to end where the next one starts; noise-only cues
(``[Music]``, ``(applause)``, empty) are dropped and inline noise tags removed.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from vcval.types import Cue

_NOISE = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_END = re.compile(r"[.?!][\"')\]]*$")


def clean_cues(cues: Sequence[Cue]) -> list[tuple[int, float, float, str]]:
    """(original index, start, end, text) of the non-noise cues, sorted by start, overlaps trimmed."""
    items = []
    for k, c in enumerate(cues):
        text = " ".join(_NOISE.sub(" ", c.text).split())
        if text:
            items.append((k, float(c.start), max(float(c.end), float(c.start)), text))
    items.sort(key=lambda t: (t[1], t[0]))
    out = []
    for n, (k, s, e, t) in enumerate(items):
        if n + 1 < len(items) and items[n + 1][1] > s:
            e = min(e, items[n + 1][1])
        out.append((k, s, e, t))
    return out


def merge_into_sentences_with_mapping(
    cues: Sequence[Cue],
    *,
    max_seconds: float = 12.0,
    min_seconds: float = 4.0,
    min_words: int = 4,
    pause_s: float = 1.0,
) -> tuple[list[Cue], list[list[int]]]:
    """Units and, for each unit, the indexes (into ``cues``) of the original cues it holds.

    Units are re-indexed 0..U-1; a unit spans [first cue start, last cue end] (after overlap
    trimming) and its text is the cue texts joined by spaces. Pure and deterministic.
    """
    items = clean_cues(cues)
    units: list[Cue] = []
    mapping: list[list[int]] = []
    cur: list[tuple[int, float, float, str]] = []

    def close() -> None:
        if cur:
            text = " ".join(t for _, _, _, t in cur)
            units.append(Cue(len(units), cur[0][1], max(cur[-1][2], cur[0][1]), text))
            mapping.append([k for k, _, _, _ in cur])
            cur.clear()

    for n, item in enumerate(items):
        if cur and item[2] - cur[0][1] > max_seconds:
            close()
        cur.append(item)
        text = " ".join(t for _, _, _, t in cur)
        dur = cur[-1][2] - cur[0][1]
        if _END.search(item[3]):
            close()
            continue
        if n + 1 < len(items):
            pause = items[n + 1][1] - item[2]
            if pause >= pause_s and dur >= min_seconds and len(text.split()) >= min_words:
                close()
    close()
    return units, mapping


def merge_into_sentences(
    cues: Sequence[Cue],
    *,
    max_seconds: float = 12.0,
    min_seconds: float = 4.0,
    min_words: int = 4,
    pause_s: float = 1.0,
) -> list[Cue]:
    """Sentence-like units of ``cues`` (see the module doc); :func:`merge_into_sentences_with_mapping`
    also returns which original cues each unit holds."""
    return merge_into_sentences_with_mapping(
        cues, max_seconds=max_seconds, min_seconds=min_seconds, min_words=min_words, pause_s=pause_s
    )[0]
