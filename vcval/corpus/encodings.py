"""Question-independent encodings of a video's sentence units, computed once and stored.

A video's cues are merged into sentence-like *units* (:mod:`vcval.ingest.sentences`); every
unit is embedded alone and with its neighbours by the corpus's text encoder. These are what the
learned localizer reads at ask time, so asking only encodes the question. Stored per video as
``encodings/<video_id>.npz``, keyed by (encoder name, :data:`ENCODING_VERSION`, the video's
content hash): a change of any of them re-encodes on next use. Files are written atomically; a
read-only corpus keeps them in memory only.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vcval.ingest.sentences import merge_into_sentences_with_mapping
from vcval.types import Cue
from vcval.utils import atomic_savez

logger = logging.getLogger(__name__)

ENCODING_VERSION = 1  # bump when units or their encodings change
CONTEXT = 1  # neighbours on each side in a unit's context encoding

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from into onto over under how do does did i
    you your we our my me is are was were be been being it its this that these those what which who whom
    when where why can could should would will shall may might must have has had not no so than then
    there here up down out about as just very too also get got make made use using way step""".split()
)


def content_words(text: str) -> frozenset[str]:
    """Lower-cased alphanumeric words of ``text`` without stopwords (a crude stem: strip plural s).

    The lexical-overlap vocabulary of the localizers (question words vs unit words).
    """
    words = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOPWORDS or len(w) < 2:
            continue
        words.add(w[:-1] if len(w) > 3 and w.endswith("s") else w)
    return frozenset(words)


def word_idf(unit_words: Iterable[frozenset[str]]) -> dict[str, float]:
    """IDF of content words over units (each unit one document): log((n + 1) / (df + 1)) + 1."""
    df: dict[str, int] = {}
    n = 0
    for words in unit_words:
        n += 1
        for w in words:
            df[w] = df.get(w, 0) + 1
    return {w: math.log((n + 1) / (c + 1)) + 1.0 for w, c in df.items()}


def question_weights(question_words: frozenset[str], idf: dict[str, float]) -> dict[str, float]:
    """IDF weight of each question word; words unseen in the corpus weigh its largest IDF (rare = informative)."""
    top = max(idf.values(), default=1.0)
    return {w: idf.get(w, top) for w in question_words}


def idf_coverage(weights: dict[str, float], words: set[str] | frozenset[str]) -> float:
    """Share of the question's IDF mass (:func:`question_weights`) whose words occur in ``words``."""
    total = sum(weights.values())
    return sum(v for w, v in weights.items() if w in words) / total if total > 0 else 0.0


def video_word_factors(words: Iterable[str], unit_words: Sequence[frozenset[str]]) -> dict[str, float]:
    """For each of ``words``, how rare it is inside one video: log((U + 1) / (df + 1)) / log(U + 1) over its U
    units (1 for a word on no unit, near 0 for a word on every unit)."""
    n = len(unit_words)
    if n == 0:
        return {w: 1.0 for w in words}
    norm = math.log(n + 1)
    return {w: math.log((n + 1) / (sum(w in uw for uw in unit_words) + 1)) / norm for w in words}


def lexical_overlap(weights: dict[str, float], unit_words: Sequence[frozenset[str]], *,
                    within_video: bool = False) -> np.ndarray:
    """(U,) :func:`idf_coverage` of the question (its :func:`question_weights`) by each unit; ``within_video``
    multiplies each word's weight by its :func:`video_word_factors` in this video first."""
    if within_video:
        factors = video_word_factors(weights, unit_words)
        weights = {w: v * factors[w] for w, v in weights.items()}
    return np.array([idf_coverage(weights, uw) for uw in unit_words], dtype=np.float32)


@dataclass(frozen=True)
class UnitEncodings:
    """One video's sentence units and their encodings.

    units: U cues re-indexed 0..U-1 (times in seconds); first_cue / last_cue: (U,) int, the
    original cue indexes each unit covers; vectors / context: (U, D) float32 L2-normalised
    embeddings of the unit alone / with :data:`CONTEXT` neighbours each side.
    """

    units: tuple[Cue, ...]
    first_cue: np.ndarray
    last_cue: np.ndarray
    vectors: np.ndarray
    context: np.ndarray

    def __len__(self) -> int:
        return len(self.units)

    @property
    def words(self) -> list[frozenset[str]]:
        """Content words of each unit (computed once per object)."""
        cached = self.__dict__.get("_words")
        if cached is None:
            cached = [content_words(u.text) for u in self.units]
            object.__setattr__(self, "_words", cached)
        return cached

    @property
    def starts(self) -> np.ndarray:
        """(U,) float32 unit start times."""
        return np.array([u.start for u in self.units], dtype=np.float32)

    @property
    def ends(self) -> np.ndarray:
        """(U,) float32 unit end times."""
        return np.array([u.end for u in self.units], dtype=np.float32)


def encode_units(cues: Sequence[Cue], encoder: Any, *, merge: bool = True) -> UnitEncodings:
    """Merge ``cues`` into units and embed them with ``encoder.encode(list[str]) -> (n, D)``.

    ``merge=False`` keeps every cue as its own unit (the no-sentence-snapping ablation)."""
    if merge:
        units, mapping = merge_into_sentences_with_mapping(list(cues))
    else:
        units = [Cue(i, c.start, c.end, c.text) for i, c in enumerate(cues)]
        mapping = [[i] for i in range(len(cues))]
    texts = [u.text for u in units]
    ctx = [" ".join(texts[max(0, i - CONTEXT): i + CONTEXT + 1]) for i in range(len(texts))]
    dim = int(getattr(encoder, "dim", 0) or 0)
    if texts:
        vectors = np.asarray(encoder.encode(texts + ctx), dtype=np.float32)  # (2U, D): one batched pass
        vectors, context = vectors[: len(texts)], vectors[len(texts):]
    else:
        vectors = context = np.zeros((0, dim), dtype=np.float32)
    return UnitEncodings(
        tuple(units),
        np.array([m[0] for m in mapping], dtype=np.int64),
        np.array([m[-1] for m in mapping], dtype=np.int64),
        vectors,
        context,
    )


def merge_unit_runs(enc: UnitEncodings, sizes: Sequence[int]) -> UnitEncodings:
    """``enc`` with consecutive runs of ``sizes`` units (summing to ``len(enc)``) merged into one unit each.

    A merged unit spans its run's times, joins its texts and takes the re-normalised mean of its
    vectors and context vectors (no encoder call): a coarser segmentation of the same video, as
    another subtitle source would cut it. Returns an object of M = len(sizes) units, (M, D) arrays.
    """
    if sum(sizes) != len(enc) or any(s < 1 for s in sizes):
        raise ValueError(f"run sizes {list(sizes)} must be positive and sum to the {len(enc)} units")
    bounds = np.cumsum([0, *sizes])
    units, words = [], []
    vec = np.zeros((len(sizes), enc.vectors.shape[1]), np.float32)
    ctx = np.zeros_like(vec)
    for m, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        run = enc.units[a:b]
        units.append(Cue(m, run[0].start, run[-1].end, " ".join(u.text for u in run)))
        words.append(frozenset().union(*enc.words[a:b]))
        vec[m], ctx[m] = enc.vectors[a:b].mean(0), enc.context[a:b].mean(0)
    vec /= np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12)
    ctx /= np.maximum(np.linalg.norm(ctx, axis=1, keepdims=True), 1e-12)
    out = UnitEncodings(tuple(units), enc.first_cue[bounds[:-1]], enc.last_cue[bounds[1:] - 1], vec, ctx)
    object.__setattr__(out, "_words", words)
    return out


def concat_units(parts: Sequence[UnitEncodings], gap_s: float = 1.0) -> tuple[UnitEncodings, list[float]]:
    """Several videos' units played one after the other as one long video (no encoder call).

    Each part's times move by the end of the previous part plus ``gap_s`` seconds, and its cue indexes by the
    previous parts' cue counts; vectors, context vectors and words are kept. Returns the (sum U_p, D) encodings
    and each part's time offset in seconds (add it to a time of that part to find it in the long video).
    """
    if not parts:
        raise ValueError("concat_units needs at least one part")
    units: list[Cue] = []
    words: list[frozenset[str]] = []
    first, last, offsets = [], [], []
    t0, c0 = 0.0, 0
    for p in parts:
        offsets.append(t0)
        units += [Cue(len(units) + k, u.start + t0, u.end + t0, u.text) for k, u in enumerate(p.units)]
        words += p.words
        first.append(p.first_cue + c0)
        last.append(p.last_cue + c0)
        if len(p):
            t0 = units[-1].end + gap_s
            c0 += int(p.last_cue.max()) + 1
    out = UnitEncodings(tuple(units), np.concatenate(first), np.concatenate(last),
                        np.concatenate([p.vectors for p in parts]), np.concatenate([p.context for p in parts]))
    object.__setattr__(out, "_words", words)
    return out, offsets


def encodings_key(encoder_name: str, content_hash: str) -> str:
    """What a stored file must match to be reused."""
    return f"{encoder_name}|v{ENCODING_VERSION}|{content_hash}"


def save_encodings(path: str | os.PathLike, enc: UnitEncodings, key: str) -> None:
    """Write ``enc`` to ``path`` (.npz) atomically, tagged with ``key``."""
    atomic_savez(
        Path(path),
        key=np.array(key),
        start=np.array([u.start for u in enc.units], dtype=np.float64),
        end=np.array([u.end for u in enc.units], dtype=np.float64),
        text=np.array([u.text for u in enc.units], dtype=np.str_),
        first_cue=enc.first_cue,
        last_cue=enc.last_cue,
        vectors=enc.vectors.astype(np.float16),
        context=enc.context.astype(np.float16),
    )


def load_encodings(path: str | os.PathLike, key: str) -> UnitEncodings | None:
    """The encodings stored at ``path`` if the file exists, is readable and matches ``key``; else None."""
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            units = tuple(Cue(i, float(s), float(e), str(t)) for i, (s, e, t) in enumerate(zip(z["start"], z["end"], z["text"])))
            return UnitEncodings(units, z["first_cue"].astype(np.int64), z["last_cue"].astype(np.int64),
                                 z["vectors"].astype(np.float32), z["context"].astype(np.float32))
    except FileNotFoundError:
        return None
    except Exception as exc:  # truncated or foreign file: re-encode
        logger.warning("unreadable encodings file %s (%s); re-encoding", path, exc)
        return None
