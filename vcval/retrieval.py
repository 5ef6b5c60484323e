"""Retrievers over a :class:`~vcval.corpus.Corpus`: every one answers ``search(query, k) -> list[Hit]``.

- :class:`BM25Retriever` -- BM25 over cue windows, or over whole transcripts (+ title) with
  ``granularity="video"`` (the "BM25 whole-transcript" baseline);
- :class:`DenseRetriever` -- cosine similarity of MiniLM sentence vectors (FAISS);
- :class:`EncoderRetriever` -- the same with another bi-encoder (RepBERT, ``vcval train repbert``) over the
  corpus's window index of that encoder;
- :class:`RerankRetriever` -- a first-stage retriever's top windows re-scored by the RocketQAv2 cross-encoder
  (``vcval train rocketqa``);
- :class:`MBVRRetriever` -- whole videos by the trained MBVR towers (``vcval train mbvr``): question
  embedding . video embedding (title + window vectors + frames fused), one hit per video;
- :class:`HybridRetriever` -- several retrievers fused by a small pure function
  (:func:`fuse_rrf`, reciprocal rank fusion; or :func:`fuse_weighted`, min-max normalised
  weighted sum).

Retrievers hold the corpus, not a copy of its index, so they see every add/remove at once.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vcval.errors import EmptyCorpusError, InvalidInputError
from vcval.types import Cue, Hit, canonical_order, tie_score

logger = logging.getLogger(__name__)

METHODS = ("bm25", "bm25-video", "dense", "hybrid", "hybrid-video", "repbert", "repbert-hybrid", "rocketqa", "mbvr")
RRF_K = 60  # reciprocal rank fusion constant: a hit at rank r adds weight / (RRF_K + r)
RERANK_DEPTH = 30  # first-stage windows the cross-encoder re-scores per question
EMPTY_CORPUS_MESSAGE = "the corpus is empty: add videos with `vcval ingest`"


class Retriever(Protocol):
    """Anything with ``search(query, k) -> list[Hit]`` (best first)."""

    def search(self, query: str, k: int) -> list[Hit]:
        ...


def _check_k(k: int) -> None:
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")


def _check(corpus: Any, query: str, k: int) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InvalidInputError("the question is empty: type a question, e.g. 'How do I put on an arm sling?'")
    _check_k(k)
    if len(corpus) == 0:
        raise EmptyCorpusError(EMPTY_CORPUS_MESSAGE)
    return query.strip()


def _key(h: Hit) -> tuple[str, int, int]:
    return (h.video_id, h.first_cue, h.last_cue)


class BM25Retriever:
    """BM25 (bm25s) over cue windows (``"window"``) or one document per video (``"video"``)."""

    def __init__(self, corpus: Any, granularity: str = "window") -> None:
        if granularity not in ("window", "video"):
            raise InvalidInputError(f"granularity must be 'window' or 'video', got {granularity!r}")
        self.corpus = corpus
        self.granularity = granularity

    def __repr__(self) -> str:
        return f"BM25Retriever(granularity={self.granularity!r})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-``k`` hits with a positive BM25 score, best first (fewer when few documents match)."""
        q = _check(self.corpus, query, k)
        return self.corpus.bm25_search(q, k, granularity=self.granularity)


class DenseRetriever:
    """Cosine similarity between the query vector and every window vector (exact FAISS search)."""

    def __init__(self, corpus: Any, encoder: Any = None) -> None:
        self.corpus = corpus
        self._encoder = encoder
        if encoder is not None:
            corpus.check_encoder(encoder)

    def __repr__(self) -> str:
        return "DenseRetriever()"

    @property
    def encoder(self) -> Any:
        """The query encoder: the one given, else the corpus's own (loaded lazily)."""
        return self._encoder if self._encoder is not None else self.corpus.text_encoder

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-``k`` windows by cosine similarity, best first."""
        q = _check(self.corpus, query, k)
        vec = self.encoder.encode([q])  # (1, D)
        return self.corpus.dense_search(vec, k)[0]


class EncoderRetriever:
    """Inner product between the query vector and the window vectors of ``encoder``, a bi-encoder other than
    the corpus's own (RepBERT); the corpus keeps that encoder's window index apart (``Corpus.encoder_search``)."""

    def __init__(self, corpus: Any, encoder: Any) -> None:
        self.corpus = corpus
        self.encoder = encoder

    def __repr__(self) -> str:
        return f"EncoderRetriever({self.encoder.name!r})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-``k`` windows by inner product of L2-normalised vectors, best first."""
        q = _check(self.corpus, query, k)
        vec = self.encoder.encode([q])  # (1, D)
        return self.corpus.encoder_search(self.encoder, vec, k)[0]


class MBVRRetriever:
    """Whole-video retrieval by the MBVR towers (:mod:`vcval.models.mbvr`): score = query embedding . video
    embedding, one :class:`Hit` per video spanning its first..last cue (like "bm25-video"), so the localizer
    picks the span inside it from the whole transcript.

    A video's embedding fuses its title vector (when the towers were trained with titles), the stored vectors
    of its retrieval windows (:meth:`Corpus.window_vectors`, the corpus's text encoder: the packaged MiniLM
    the towers were trained on) and its stored frame features (:meth:`Corpus.features`; none, or another
    feature size than the towers', = a text-only video). It is computed once per video and kept in memory,
    keyed by (towers' fingerprint, video content hash), so a changed video or checkpoint is re-embedded.
    """

    def __init__(self, corpus: Any, model: Any, encoder: Any = None) -> None:
        self.corpus = corpus
        self.model = model
        self._encoder = encoder
        self._cache: dict[str, tuple[tuple[str, str], Any]] = {}

    def __repr__(self) -> str:
        return f"MBVRRetriever({self.model.fingerprint})"

    @property
    def encoder(self) -> Any:
        """The question / title encoder: the one given, else the corpus's own."""
        return self._encoder if self._encoder is not None else self.corpus.text_encoder

    def video_embeddings(self) -> tuple[list[str], Any]:
        """(video ids (V,), embeddings (V, H) float32) of every video in the corpus, embedding new ones."""
        import numpy as np

        from vcval.models.mbvr import prepare_video

        cfg = self.model.config
        ids = self.corpus.video_ids()
        todo, keys = [], {}
        for vid in ids:
            rec = self.corpus.get(vid)
            keys[vid] = (self.model.fingerprint, str(rec.content_hash))
            hit = self._cache.get(vid)
            if hit is None or hit[0] != keys[vid]:
                todo.append(rec)
        if todo:
            titles = [r.title for r in todo if cfg.use_title and r.title]
            title_vecs = iter(self.encoder.encode(titles)) if titles else iter(())
            videos = []
            for rec in todo:
                text = self.corpus.window_vectors(rec.video_id)  # (W, D)
                if cfg.use_title and rec.title:
                    text = np.vstack([next(title_vecs)[None], text])
                videos.append(prepare_video(text, self.corpus.features(rec.video_id), cfg))
            for rec, emb in zip(todo, self.model.encode_videos(videos)):
                self._cache[rec.video_id] = (keys[rec.video_id], emb)
            logger.info("MBVR: embedded %d videos", len(todo))
        for vid in set(self._cache) - set(ids):
            del self._cache[vid]
        h = int(cfg.hidden)
        return ids, (np.stack([self._cache[v][1] for v in ids]) if ids else np.zeros((0, h), np.float32))

    def search(self, query: str, k: int) -> list[Hit]:
        """The top-``k`` videos by MBVR relevance, best first (one whole-video hit each)."""
        import numpy as np

        q = _check(self.corpus, query, k)
        ids, videos = self.video_embeddings()
        qe = self.model.encode_queries(self.encoder.encode([q]))[0]  # (H,)
        scores = videos @ qe  # (V,)
        out = []
        for i in np.argsort(-scores, kind="stable")[:k]:
            rec = self.corpus.get(ids[i])
            out.append(Hit(rec.video_id, float(scores[i]), 0, rec.n_cues - 1, 0.0, float(rec.duration or 0.0)))
        return out


def fuse_rrf(lists: Sequence[Sequence[Hit]], k: int, rrf_k: int = RRF_K,
             weights: Sequence[float] | None = None) -> list[Hit]:
    """Reciprocal rank fusion: score(h) = sum_i w_i / (rrf_k + rank_i(h)), ranks from 1.

    Hits of equal score in one list (:func:`~vcval.types.tie_score`) share the rank of the first of
    them, so the fusion does not depend on the order an index engine left ties in.
    Hits are identified by (video_id, first_cue, last_cue); each fused hit keeps the times of
    its first occurrence. Ties break by the best single rank, then by the identity key.
    """
    w = _weights(lists, weights)
    scores: dict[tuple[str, int, int], float] = {}
    best_rank: dict[tuple[str, int, int], int] = {}
    first: dict[tuple[str, int, int], Hit] = {}
    for hits, wi in zip(lists, w):
        seen: set[tuple[str, int, int]] = set()
        rank, group_score = 0, None
        for position, h in enumerate(hits, start=1):
            score = tie_score(h.score)
            if score != group_score:  # a new group of equal scores starts here; its hits share this rank
                rank, group_score = position, score
            key = _key(h)
            if key in seen:  # a list should not repeat a hit; count its best rank only
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + wi / (rrf_k + rank)
            best_rank[key] = min(best_rank.get(key, rank), rank)
            first.setdefault(key, h)
    return _top(scores, best_rank, first, k)


def fuse_weighted(lists: Sequence[Sequence[Hit]], k: int, weights: Sequence[float] | None = None) -> list[Hit]:
    """Weighted sum of min-max normalised scores (each list mapped to [0, 1]; absent = 0)."""
    w = _weights(lists, weights)
    scores: dict[tuple[str, int, int], float] = {}
    best_rank: dict[tuple[str, int, int], int] = {}
    first: dict[tuple[str, int, int], Hit] = {}
    for hits, wi in zip(lists, w):
        if not hits:
            continue
        vals = [h.score for h in hits]
        lo, hi = min(vals), max(vals)
        seen: set[tuple[str, int, int]] = set()
        for rank, h in enumerate(hits, start=1):
            key = _key(h)
            if key in seen:
                continue
            seen.add(key)
            norm = (h.score - lo) / (hi - lo) if hi > lo else 1.0
            scores[key] = scores.get(key, 0.0) + wi * norm
            best_rank[key] = min(best_rank.get(key, rank), rank)
            first.setdefault(key, h)
    return _top(scores, best_rank, first, k)


def _weights(lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None) -> list[float]:
    if weights is None:
        return [1.0] * len(lists)
    if len(weights) != len(lists):
        raise InvalidInputError(f"{len(weights)} weights for {len(lists)} result lists")
    return [float(x) for x in weights]


def _top(scores: dict, best_rank: dict, first: dict, k: int) -> list[Hit]:
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], key))[: max(k, 0)]
    out = []
    for key in order:
        h = first[key]
        out.append(Hit(h.video_id, float(scores[key]), h.first_cue, h.last_cue, h.start, h.end))
    return out


FUSIONS: dict[str, Callable[..., list[Hit]]] = {"rrf": fuse_rrf, "weighted": fuse_weighted}


class HybridRetriever:
    """Fuses the results of several retrievers (default: RRF with k=60).

    Each retriever is asked for ``max(k, candidates)`` hits before fusion.
    """

    def __init__(self, retrievers: Sequence[Retriever], fusion: str = "rrf", weights: Sequence[float] | None = None,
                 rrf_k: int = RRF_K, candidates: int = 100) -> None:
        if not retrievers:
            raise InvalidInputError("HybridRetriever needs at least one retriever")
        if fusion not in FUSIONS:
            raise InvalidInputError(f"unknown fusion {fusion!r}; choose one of {sorted(FUSIONS)}")
        _weights([[]] * len(retrievers), weights)
        self.retrievers = list(retrievers)
        self.fusion = fusion
        self.weights = None if weights is None else [float(x) for x in weights]
        self.rrf_k = int(rrf_k)
        self.candidates = int(candidates)

    def __repr__(self) -> str:
        return f"HybridRetriever({self.retrievers!r}, fusion={self.fusion!r})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Fused top-``k`` hits, best first."""
        _check_k(k)
        depth = max(k, self.candidates)
        lists = [r.search(query, depth) for r in self.retrievers]
        if self.fusion == "rrf":
            return fuse_rrf(lists, k, rrf_k=self.rrf_k, weights=self.weights)
        return fuse_weighted(lists, k, weights=self.weights)


class VideoPriorRetriever:
    """Window hits re-scored by their video's rank under a video-level retriever (whole-transcript BM25):
    score(window) = its own score + ``weight / (RRF_K + rank of its video)``.

    With an RRF first stage (``hybrid``) this is reciprocal rank fusion with a third list in which every window
    of a video stands at that video's rank: a video whose whole transcript matches the question lifts all its
    windows, a lone matching window in an off-topic video is held back. Videos outside the video retriever's
    top ``candidates`` add nothing.
    """

    def __init__(self, windows: Retriever, videos: Retriever, weight: float = 1.0, candidates: int = 100) -> None:
        if not weight >= 0.0:
            raise InvalidInputError(f"weight must be >= 0, got {weight}")
        self.windows = windows
        self.videos = videos
        self.weight = float(weight)
        self.candidates = int(candidates)

    def __repr__(self) -> str:
        return f"VideoPriorRetriever({self.windows!r}, {self.videos!r}, weight={self.weight})"

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-``k`` window hits, best first, by score + the video term."""
        _check_k(k)
        hits = self.windows.search(query, max(k, self.candidates))
        order = list(dict.fromkeys(h.video_id for h in self.videos.search(query, self.candidates)))
        return add_video_rank(hits, order, self.weight)[:k]


def add_video_rank(hits: Sequence[Hit], videos: Sequence[str], weight: float) -> list[Hit]:
    """``hits`` re-scored by ``weight / (RRF_K + rank of their video in videos)`` (ranks from 1; a video not in
    ``videos`` adds nothing), best first: a video-level list as one more reciprocal-rank vote."""
    rank = {v: r for r, v in enumerate(videos, start=1)}
    return canonical_order([Hit(h.video_id, h.score + (weight / (RRF_K + rank[h.video_id]) if h.video_id in rank
                                                       else 0.0), h.first_cue, h.last_cue, h.start, h.end)
                            for h in hits])


class RerankRetriever:
    """The top ``depth`` windows of ``first_stage`` re-scored by a cross-encoder (RocketQAv2's re-ranker).

    ``first_stage_weight`` 0: hits come back best first by re-ranker logit (their ``score``). > 0: the
    top ``depth`` are ordered by reciprocal rank fusion of the re-ranker's order (weight 1) and the first
    stage's own order (this weight), scored by the fused value, so a re-ranker that is right where the
    first stage is wrong can help without overruling it everywhere. Either way, when ``k > depth`` the first
    stage's further hits follow in their own order, scored below every re-ranked one.
    """

    def __init__(self, corpus: Any, first_stage: Retriever, reranker: Any, depth: int = RERANK_DEPTH,
                 first_stage_weight: float = 0.0) -> None:
        if depth < 1:
            raise InvalidInputError(f"depth must be >= 1, got {depth}")
        if not first_stage_weight >= 0.0:
            raise InvalidInputError(f"first_stage_weight must be >= 0, got {first_stage_weight}")
        self.corpus = corpus
        self.first_stage = first_stage
        self.reranker = reranker
        self.depth = int(depth)
        self.first_stage_weight = float(first_stage_weight)

    def __repr__(self) -> str:
        return (f"RerankRetriever({self.first_stage!r}, {self.reranker!r}, depth={self.depth}, "
                f"first_stage_weight={self.first_stage_weight})")

    def window_texts(self, hits: Sequence[Hit]) -> list[str]:
        """The stored text of each window hit (the corpus's own windows; one catalog read per video)."""
        by_video: dict[str, dict[tuple[int, int], str]] = {}
        out = []
        for h in hits:
            if h.video_id not in by_video:
                by_video[h.video_id] = {(w.first_cue, w.last_cue): w.text for w in self.corpus.windows(h.video_id)}
            out.append(by_video[h.video_id].get((h.first_cue, h.last_cue), ""))
        return out

    def search(self, query: str, k: int) -> list[Hit]:
        """Top-``k`` hits: the first stage's top ``depth`` in re-ranker order, then the rest."""
        q = _check(self.corpus, query, k)
        hits = self.first_stage.search(q, max(k, self.depth))
        head, tail = hits[: self.depth], hits[self.depth:]
        if not head:
            return []
        scores = self.reranker.score(q, self.window_texts(head))  # (len(head),)
        order = sorted(range(len(head)), key=lambda i: (-float(scores[i]), i))
        out = [Hit(head[i].video_id, float(scores[i]), head[i].first_cue, head[i].last_cue, head[i].start,
                   head[i].end) for i in order]
        if self.first_stage_weight > 0.0:
            out = fuse_rrf([out, head], len(head), weights=[1.0, self.first_stage_weight])
        floor = min(h.score for h in out) - 1.0
        out += [Hit(h.video_id, floor - r, h.first_cue, h.last_cue, h.start, h.end) for r, h in enumerate(tail)]
        return out[:k]


def rank_videos(hits: Sequence[Hit], k: int) -> list[tuple[str, float, Hit]]:
    """Rank videos by their best hit: [(video_id, best score, best hit)], at most ``k``, best first."""
    best: dict[str, Hit] = {}
    order: dict[str, int] = {}
    for i, h in enumerate(hits):
        if h.video_id not in best or h.score > best[h.video_id].score:
            best[h.video_id] = h
        order.setdefault(h.video_id, i)
    ranked = sorted(best, key=lambda v: (-best[v].score, order[v]))[: max(k, 0)]
    return [(v, float(best[v].score), best[v]) for v in ranked]


def _is_model(x: Any) -> bool:
    """A loaded encoder (not None, not a folder path or Hub id: ``str`` has an ``encode`` method too)."""
    return x is not None and not isinstance(x, (str, os.PathLike)) and hasattr(x, "encode")


def make_retriever(corpus: Any, method: str = "hybrid", encoder: Any = None, *, repbert: Any = None,
                   reranker: Any = None, mbvr: Any = None) -> Retriever:
    """A retriever by name: "bm25" (windows), "bm25-video" (whole transcripts), "dense", "hybrid"
    (RRF of window BM25 and dense), "hybrid-video" (hybrid with whole-transcript BM25's video rank as a third RRF
    list: :class:`VideoPriorRetriever`), "repbert" (windows by the trained RepBERT bi-encoder), "repbert-hybrid"
    (RRF of window BM25 and RepBERT), "rocketqa" (RRF of window BM25 and the RocketQAv2 dual encoder, its
    top :data:`RERANK_DEPTH` windows re-ranked by the RocketQAv2 cross-encoder) and "mbvr" (whole videos by
    the trained MBVR towers).

    ``repbert``: the RepBERT TextEncoder, a folder / Hub id of one, or None for ``$VCVAL_REPBERT``
    (:func:`vcval.encoders.load_repbert`; NotFoundError saying how to train one when there is none).
    ``reranker`` ("rocketqa"): a CrossEncoderReranker, with ``repbert`` its dual encoder; when either is
    missing both come from the checkpoint ``repbert`` names (or ``$VCVAL_ROCKETQA``).
    ``mbvr``: the MBVR towers (:class:`~vcval.models.mbvr.MBVRModel`), a folder / Hub id of them, or None for
    ``$VCVAL_MBVR`` (:func:`vcval.models.mbvr.load_mbvr`).
    """
    if method == "rocketqa":
        if reranker is None or not _is_model(repbert):
            from vcval.models.reranker import load_rocketqa

            repbert, reranker = load_rocketqa(repbert)
        first = HybridRetriever([BM25Retriever(corpus, "window"), EncoderRetriever(corpus, repbert)])
        inference = getattr(reranker, "inference", None) or {}
        return RerankRetriever(corpus, first, reranker,
                               first_stage_weight=float(inference.get("first_stage_weight", 0.0)))
    if method == "mbvr":
        from vcval.models.mbvr import MBVRModel, load_mbvr

        return MBVRRetriever(corpus, mbvr if isinstance(mbvr, MBVRModel) else load_mbvr(mbvr), encoder)
    if method in ("repbert", "repbert-hybrid"):
        from vcval.encoders import load_repbert

        model = repbert if _is_model(repbert) else load_repbert(repbert)
        dense = EncoderRetriever(corpus, model)
        if method == "repbert":
            return dense
        return HybridRetriever([BM25Retriever(corpus, "window"), dense])
    if method == "bm25":
        return BM25Retriever(corpus, "window")
    if method == "bm25-video":
        return BM25Retriever(corpus, "video")
    if method == "dense":
        return DenseRetriever(corpus, encoder)
    if method == "hybrid":
        return HybridRetriever([BM25Retriever(corpus, "window"), DenseRetriever(corpus, encoder)])
    if method == "hybrid-video":
        return VideoPriorRetriever(make_retriever(corpus, "hybrid", encoder), BM25Retriever(corpus, "video"))
    raise InvalidInputError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")


class TranscriptBM25:
    """Whole-transcript BM25 over in-memory transcripts (training negatives, light dev evaluation).

    Same tokenizer and BM25 as a corpus's ``bm25-video`` index (:func:`vcval.corpus.indexes.tokenize`,
    :class:`~vcval.corpus.indexes.BM25Index`), so what training sees is what users get.
    """

    def __init__(self, transcripts: dict[str, list[Cue]]) -> None:
        from vcval.corpus.indexes import BM25Index, tokenize

        self.video_ids = sorted(transcripts)
        self._index = BM25Index()
        docs = tokenize([" ".join(c.text for c in transcripts[v]) for v in self.video_ids])
        self._index.add(range(len(self.video_ids)), docs)

    def search(self, questions: Sequence[str], k: int) -> list[list[tuple[str, float]]]:
        """Per question the top-k (video_id, score), best first; videos scoring 0 fill up to k by id."""
        k = min(k, len(self.video_ids))
        out = []
        for q in questions:
            scores, rows = self._index.search(q, k)
            hits = [(self.video_ids[int(r)], float(s)) for s, r in zip(scores, rows)]
            seen = {v for v, _ in hits}
            hits += [(v, 0.0) for v in self.video_ids if v not in seen][: k - len(hits)]
            out.append(hits)
        return out
