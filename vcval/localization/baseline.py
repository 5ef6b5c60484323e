"""The training-free baseline localizer: per-cue relevance, then the best contiguous spans.

It answers the :class:`~vcval.localization.base.Localizer` shape; CCGS
(:class:`vcval.localization.ccgs.CCGSLocalizer`) plugs in behind the same shape.
"""
from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from vcval.corpus.encodings import content_words
from vcval.localization.base import Candidate
from vcval.localization.prior import SpanPrior
from vcval.localization.spans import decode_spans
from vcval.types import Answer, Cue

logger = logging.getLogger(__name__)

class BaselineLocalizer:
    """Training-free localizer: dense + lexical per-cue relevance, then the best contiguous span.

    Per cue c: relevance r_c = cos(q, c with its neighbours) + lexical_weight * overlap(q, c)
    (single cues are too short to embed well) + window_weight * w_c, where w_c is the best retrieval score
    of the video's hits (cue windows) that cover c, min-max scaled over the video's hits to [0, 1] (0 when
    none covers it): with ``--method rocketqa`` those are the cross-encoder's window scores, a direct
    question-window relevance. Every span [i, j] is scored by its summed
    relevance above a level halfway between the video's median and maximum, plus a weighted
    log prior on answer length and position (:class:`SpanPrior`). Videos keep the retriever's
    order: every video's best span ranks before any video's second span, so the baseline
    never changes retrieval.
    """

    def __init__(
        self,
        embed: Callable[[list[str]], np.ndarray],
        *,
        context: int = 1,
        lexical_weight: float = 0.15,
        max_span_seconds: float = 180.0,
        spans_per_video: int = 3,
        prior: SpanPrior | None = SpanPrior(),
        prior_weight: float = 1.0,  # chosen on TutorialVQA dev + MedVidQA train (0, 0.1, 0.3, 1.0)
        window_weight: float = 0.0,
    ) -> None:
        self.embed = embed
        self.context = context
        self.lexical_weight = lexical_weight
        self.max_span_seconds = max_span_seconds
        self.spans_per_video = spans_per_video
        self.prior = prior
        self.prior_weight = prior_weight
        self.window_weight = window_weight
        self._cue_vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = 4096

    def cue_vectors(self, cues: Sequence[Cue], key: tuple[str, str] | None = None) -> np.ndarray:
        """(N, D) embeddings of each cue with its neighbours; cached per video (question-independent)."""
        if key is not None and key in self._cue_vectors:
            self._cue_vectors.move_to_end(key)
            return self._cue_vectors[key]
        texts = []
        for i in range(len(cues)):
            lo, hi = max(0, i - self.context), min(len(cues), i + self.context + 1)
            texts.append(" ".join(c.text for c in cues[lo:hi]))
        vectors = self.embed(texts)
        if key is not None:
            self._cue_vectors[key] = vectors
            if len(self._cue_vectors) > self._cache_size:
                self._cue_vectors.popitem(last=False)
        return vectors

    def cue_relevance(
        self,
        question: str,
        cues: Sequence[Cue],
        q_vec: np.ndarray | None = None,
        cache_key: tuple[str, str] | None = None,
    ) -> np.ndarray:
        """(N,) relevance of each cue to the question."""
        if not cues:
            return np.zeros(0, dtype=np.float32)
        if q_vec is None:
            q_vec = self.embed([question])[0]
        dense = self.cue_vectors(cues, cache_key) @ q_vec  # (N,)
        q_words = content_words(question)
        lexical = np.array(
            [len(q_words & content_words(c.text)) / max(1, len(q_words)) for c in cues], dtype=np.float32
        )
        return dense.astype(np.float32) + self.lexical_weight * lexical

    @staticmethod
    def window_relevance(cand: Candidate) -> np.ndarray:
        """(N,) per cue: the best min-max scaled score of the candidate's hits covering it (0 if none)."""
        out = np.zeros(len(cand.cues), dtype=np.float32)
        if not cand.hits:
            return out
        scores = np.array([h.score for h in cand.hits], dtype=np.float64)
        lo, hi = float(scores.min()), float(scores.max())
        for h, sc in zip(cand.hits, scores):
            value = (sc - lo) / (hi - lo) if hi > lo else 1.0
            first, last = max(0, h.first_cue), min(len(out) - 1, h.last_cue)
            if first <= last:
                out[first:last + 1] = np.maximum(out[first:last + 1], value)
        return out

    def span_scores(self, relevance: np.ndarray, cues: Sequence[Cue]) -> np.ndarray:
        """(N, N) score of every span [i, j] (i <= j, at most ``max_span_seconds``); -inf elsewhere.

        score = sum over the span of (z - 0.5) + prior_weight * log prior(span), where
        z = (r - median) / (max - median) rescales the video's cue relevance to (-inf, 1].
        """
        n = len(cues)
        med = float(np.median(relevance))
        z = (relevance - med) / max(float(relevance.max()) - med, 1e-6)
        prefix = np.concatenate([[0.0], np.cumsum(z - 0.5)])
        starts = np.array([c.start for c in cues])
        ends = np.array([c.end for c in cues])
        score = prefix[None, 1:] - prefix[:-1, None]  # (N, N): span i..j
        if self.prior is not None and self.prior_weight:
            score += self.prior_weight * self.prior.cue_span_matrix(cues)
        seconds = ends[None, :] - starts[:, None]  # (N, N): length of span i..j
        valid = np.triu(np.ones((n, n), dtype=bool)) & (seconds <= self.max_span_seconds)
        valid |= np.eye(n, dtype=bool)  # a single cue is always a valid span
        return np.where(valid, score, -np.inf)

    def candidate_span_scores(self, question: str, cand: Candidate, q_vec: np.ndarray | None = None) -> np.ndarray:
        """(N, N) :meth:`span_scores` of one candidate video (its cue vectors cached per video)."""
        rec = cand.record
        relevance = self.cue_relevance(question, cand.cues, q_vec, (rec.video_id, rec.content_hash))
        return self.span_scores(relevance, cand.cues)

    def spans_for_video(self, relevance: np.ndarray, cues: Sequence[Cue], n_spans: int) -> list[tuple[int, int, float]]:
        """Up to ``n_spans`` non-overlapping (first, last, score) spans, best first (ties: earliest)."""
        if len(cues) == 0:
            return []
        scores = self.span_scores(relevance, cues)
        return decode_spans(scores, np.isfinite(scores), top_k=n_spans)

    def localize(self, question: str, candidates: Sequence[Candidate], top_n: int = 10) -> list[Answer]:
        if not candidates:
            return []
        q_vec = self.embed([question])[0]
        raw = np.array([c.retrieval_score for c in candidates], dtype=np.float64)
        spread = raw.max() - raw.min()
        norm = (raw - raw.min()) / spread if spread > 0 else np.ones_like(raw)
        n_spans = max(1, min(self.spans_per_video, math.ceil(top_n / len(candidates))))
        scored: list[tuple[int, float, Answer]] = []
        for cand, video_score in zip(candidates, norm):
            rec = cand.record
            if not cand.cues:  # searchable by title only: answer the whole video
                ans = Answer(rec.video_id, rec.title, 0.0, rec.duration, float(n_spans - 1 + video_score), ())
                scored.append((0, -video_score, ans))
                continue
            relevance = self.cue_relevance(question, cand.cues, q_vec, (rec.video_id, rec.content_hash))
            if self.window_weight:
                relevance = relevance + self.window_weight * self.window_relevance(cand)
            for tier, (first, last, _mean) in enumerate(self.spans_for_video(relevance, cand.cues, n_spans)):
                span_cues = tuple(cand.cues[first : last + 1])
                score = float(n_spans - tier - 1 + video_score)
                ans = Answer(rec.video_id, rec.title, span_cues[0].start, span_cues[-1].end, score, span_cues)
                scored.append((tier, -video_score, ans))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [a for _, _, a in scored[:top_n]]
