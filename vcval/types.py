"""Plain, frozen value types shared by every stage of vcval.

Times are seconds (float). Cue indexes are 0-based positions in a video's cue list.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: ``text`` spoken between ``start`` and ``end`` seconds."""

    index: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class VideoRecord:
    """A video (or transcript-only record) held by a corpus.

    ``media_path`` and ``features_path`` are relative to the corpus directory, or None
    for transcript-only records / records without visual features.
    ``subtitle_source`` is one of: "sidecar-srt", "sidecar-vtt", "embedded", "captions",
    "asr", "transcript", "none".
    """

    video_id: str
    title: str
    duration: float
    source: str
    subtitle_source: str
    content_hash: str
    n_cues: int
    media_path: str | None = None
    features_path: str | None = None
    added_at: str = ""


@dataclass(frozen=True)
class Hit:
    """One retrieval result: a cue window [first_cue, last_cue] of a video, with a score.

    Every retriever's ``search(query, k) -> list[Hit]`` returns these, best first.
    For whole-video retrievers first_cue = 0 and last_cue = n_cues - 1.
    """

    video_id: str
    score: float
    first_cue: int = 0
    last_cue: int = 0
    start: float = 0.0
    end: float = 0.0


SCORE_DECIMALS = 5
"""Scores equal to this many decimals are ties (float32 engines differ in the last bits)."""


def tie_score(score: float) -> float:
    """``score`` rounded to :data:`SCORE_DECIMALS`: the value two hits must share to be tied."""
    return round(float(score), SCORE_DECIMALS)


def canonical_order(hits: list[Hit]) -> list[Hit]:
    """``hits`` best first, ties (:func:`tie_score`) by (video_id, first_cue, last_cue).

    Index engines leave equal scores in any order (FAISS by insertion, Milvus by segment); with this
    order two backends holding the same windows return the same list, and so the same videos.
    """
    return sorted(hits, key=lambda h: (-tie_score(h.score), h.video_id, h.first_cue, h.last_cue))


@dataclass(frozen=True)
class Answer:
    """One answer: the span [start, end] seconds of a video, its score and the cues in it.

    ``confidence`` in [0, 1] is the calibrated probability that the answer is right (right video
    and temporal IoU >= 0.5 with the true answer), and ``confident`` says whether it reaches the
    threshold shipped with the model; ``video_confidence`` is the calibrated probability that the
    answer's video is the right one (whatever the span); all three are None for methods without a
    calibrated model. ``score`` is the method's raw ranking score (comparable only within one question).
    ``key_start`` / ``key_end`` (seconds, inside the span) bound the answer's key sentence: the one the
    localizer finds closest to the question, highlighted more strongly; None when the method names none.
    """

    video_id: str
    title: str
    start: float
    end: float
    score: float
    cues: tuple[Cue, ...] = field(default_factory=tuple)
    clip_path: str | None = None
    confidence: float | None = None
    confident: bool | None = None
    video_confidence: float | None = None
    key_start: float | None = None
    key_end: float | None = None

    def confidence_label(self) -> str:
        """How people read the confidence, worded the same in the app and the CLI.

        With a video probability: "high (right video 92%, this stretch 31%)" (confident and the video at
        least 80% likely), "medium (...)" (confident below that), "low (...)" (not confident). Without one
        (older checkpoints): "high (83%)" (>= 60%), "medium (41%)", "low (7%)". A calibrated "0%" reads
        "<1%"; the raw score when the method is not calibrated.
        """
        if self.confidence is None:
            return f"score {float(self.score):.3f}"
        c = float(self.confidence)
        if self.video_confidence is None:
            level = "high" if c >= 0.6 else "medium" if self.confident else "low"
            return f"{level} ({_percent(c)})"
        v = float(self.video_confidence)
        level = "low" if not self.confident else "high" if v >= 0.8 else "medium"
        return f"{level} (right video {_percent(v)}, this stretch {_percent(c)})"

    def to_dict(self) -> dict:
        """JSON-ready dict (the shape printed by ``vcval ask --json``)."""
        out = {
            "video_id": self.video_id,
            "title": self.title,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": float(self.score),
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "confident": self.confident,
            "video_confidence": None if self.video_confidence is None else round(float(self.video_confidence), 4),
            "key_start": None if self.key_start is None else round(float(self.key_start), 3),
            "key_end": None if self.key_end is None else round(float(self.key_end), 3),
            "cues": [
                {"index": c.index, "start": c.start, "end": c.end, "text": c.text} for c in self.cues
            ],
        }
        if self.clip_path is not None:
            out["clip"] = self.clip_path
        return out

    @classmethod
    def from_dict(cls, d: dict) -> Answer:
        """Inverse of :meth:`to_dict` (e.g. answers kept in a UI's state as plain dicts)."""
        cues = tuple(Cue(int(c["index"]), float(c["start"]), float(c["end"]), str(c["text"])) for c in d.get("cues", []))
        def number(key: str) -> float | None:
            return None if d.get(key) is None else float(d[key])

        return cls(d["video_id"], d["title"], float(d["start"]), float(d["end"]), float(d["score"]), cues, d.get("clip"),
                   number("confidence"), d.get("confident"), number("video_confidence"), number("key_start"),
                   number("key_end"))

    def is_key_cue(self, cue: Cue) -> bool:
        """Whether to show ``cue`` as part of the answer's key sentence: False when there is none, and for an
        answer that is only a closest match (``confident`` False), whose best sentence answers nothing."""
        if self.key_start is None or self.key_end is None or self.confident is False:
            return False
        return cue.start >= self.key_start - 1e-3 and cue.end <= self.key_end + 1e-3


def _percent(p: float) -> str:
    """A probability as people read it: "31%", and "<1%" rather than a calibrated "0%"."""
    return "<1%" if 0 < p < 0.005 else f"{100 * p:.0f}%"
