"""Retrievers over a real corpus (packaged MiniLM) and the pure fusion functions."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vcval.corpus import Corpus
from vcval.encoders import TextEncoder
from vcval.errors import EmptyCorpusError, InvalidInputError
from vcval.retrieval import (
    BM25Retriever,
    DenseRetriever,
    HybridRetriever,
    VideoPriorRetriever,
    fuse_rrf,
    fuse_weighted,
    make_retriever,
    rank_videos,
)
from vcval.types import Hit

TRANSCRIPTS = {
    "sling": [
        "if someone has hurt their arm you can support it with a sling",
        "take a triangular bandage and slide it under the injured arm",
        "bring the top end around the back of the neck",
        "tie a reef knot in the hollow above the collarbone",
    ],
    "layers": [
        "in this tutorial we look at layers in photoshop",
        "open the layers panel from the window menu",
        "use a layer mask to hide part of the image",
    ],
    "pasta": [
        "bring a large pot of salted water to the boil",
        "add the spaghetti and stir so it does not stick",
        "drain the pasta and toss it with the tomato sauce",
    ],
}


def _write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"{name}.json"
    p.write_text(json.dumps([{"start": 5.0 * i, "duration": 5.0, "text": t} for i, t in enumerate(lines)]), "utf-8")
    return p


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, encoder):
    tmp = tmp_path_factory.mktemp("retrieval")
    c = Corpus.open(tmp / "corpus", text_encoder=encoder)
    c.add_transcripts([_write(tmp / "src", n, lines) for n, lines in TRANSCRIPTS.items()], progress=False)
    yield c
    c.close()


# --------------------------------------------------------------------------- quality sanity
@pytest.mark.parametrize("method", ["bm25", "bm25-video", "dense", "hybrid", "hybrid-video"])
def test_sling_question_finds_the_sling_video(corpus, method):
    hits = make_retriever(corpus, method).search("How do I put on an arm sling?", 5)
    assert hits and hits[0].video_id == "sling"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert rank_videos(hits, 1)[0][0] == "sling"


def test_dense_finds_paraphrases_bm25_cannot(corpus):
    q = "how to cook noodles"  # shares no content word with the pasta transcript
    assert all(h.video_id != "pasta" for h in make_retriever(corpus, "bm25").search(q, 5))
    assert make_retriever(corpus, "dense").search(q, 1)[0].video_id == "pasta"
    assert make_retriever(corpus, "hybrid").search(q, 1)[0].video_id == "pasta"


def test_window_hits_point_at_cues(corpus):
    hit = make_retriever(corpus, "bm25").search("reef knot collarbone", 1)[0]
    assert hit.video_id == "sling" and hit.first_cue <= 3 <= hit.last_cue
    cues = corpus.cues("sling")
    assert hit.start == cues[hit.first_cue].start and hit.end == cues[hit.last_cue].end


def test_video_granularity_covers_the_whole_video(corpus):
    hit = BM25Retriever(corpus, "video").search("photoshop", 3)[0]
    rec = corpus.get("layers")
    assert (hit.video_id, hit.first_cue, hit.last_cue, hit.start, hit.end) == ("layers", 0, rec.n_cues - 1, 0.0, rec.duration)


def test_k_limits_results(corpus):
    for method in ("bm25", "dense", "hybrid"):
        assert len(make_retriever(corpus, method).search("arm sling bandage photoshop pasta", 2)) <= 2
    assert len(make_retriever(corpus, "dense").search("anything", 100)) == corpus.index_stats()["dense_vectors"]


@pytest.mark.parametrize("query", ["", "   \n"])
def test_empty_question_is_rejected(corpus, query):
    for method in ("bm25", "bm25-video", "dense", "hybrid"):
        with pytest.raises(InvalidInputError):
            make_retriever(corpus, method).search(query, 5)


def test_bad_k_and_unknown_method(corpus):
    with pytest.raises(InvalidInputError):
        make_retriever(corpus, "bm25").search("sling", 0)
    with pytest.raises(InvalidInputError, match="bm25-video"):
        make_retriever(corpus, "tfidf")
    with pytest.raises(InvalidInputError):
        BM25Retriever(corpus, "sentence")
    with pytest.raises(InvalidInputError):
        HybridRetriever([], fusion="rrf")
    with pytest.raises(InvalidInputError):
        HybridRetriever([BM25Retriever(corpus)], fusion="max")


def test_empty_corpus(tmp_path, encoder):
    c = Corpus.open(tmp_path / "empty", text_encoder=encoder)
    for method in ("bm25", "bm25-video", "dense", "hybrid"):
        with pytest.raises(EmptyCorpusError, match="vcval ingest"):
            make_retriever(c, method).search("sling", 5)
    c.close()


def test_retrievers_follow_corpus_changes(tmp_path, encoder):
    c = Corpus.open(tmp_path / "c", text_encoder=encoder)
    c.add_transcript(_write(tmp_path, "pasta", TRANSCRIPTS["pasta"]))
    retrievers = [make_retriever(c, m) for m in ("bm25", "bm25-video", "dense", "hybrid")]
    c.add_transcript(_write(tmp_path, "sling", TRANSCRIPTS["sling"]))
    for r in retrievers:
        assert r.search("triangular bandage arm sling", 1)[0].video_id == "sling"
    c.remove("sling")
    for r in retrievers:
        assert all(h.video_id != "sling" for h in r.search("triangular bandage arm sling", 10))
    c.close()


def test_dense_retriever_rejects_a_different_encoder(corpus):
    class Other:
        name, dim = "some-other-model", 384

    with pytest.raises(InvalidInputError, match="all-MiniLM-L6-v2"):
        DenseRetriever(corpus, Other())


# --------------------------------------------------------------------------- pure fusion
def H(video: str, score: float, first: int = 0, last: int = 0) -> Hit:
    return Hit(video, score, first, last, float(first), float(last + 1))


def test_fuse_rrf_math_and_order():
    a = [H("x", 9.0), H("y", 5.0), H("z", 1.0)]
    b = [H("y", 0.9), H("w", 0.8)]
    fused = fuse_rrf([a, b], k=10, rrf_k=60)
    assert [h.video_id for h in fused] == ["y", "x", "w", "z"]
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert fused[1].score == pytest.approx(1 / 61)
    assert fuse_rrf([a, b], k=2) == fused[:2]
    # weights: trust list b three times more
    w = fuse_rrf([a, b], k=10, weights=[1.0, 3.0])
    assert [h.video_id for h in w][:2] == ["y", "w"]
    with pytest.raises(InvalidInputError):
        fuse_rrf([a, b], k=3, weights=[1.0])


def test_fusion_keys_are_windows_not_videos():
    a = [H("v", 3.0, 0, 3), H("v", 2.0, 2, 5)]
    b = [H("v", 0.7, 2, 5)]
    fused = fuse_rrf([a, b], k=5)
    assert [(h.first_cue, h.last_cue) for h in fused] == [(2, 5), (0, 3)]
    assert fused[0].start == 2.0 and fused[0].end == 6.0


def test_fusion_ties_are_deterministic():
    a, b = [H("a", 1.0)], [H("b", 1.0)]
    assert [h.video_id for h in fuse_rrf([a, b], 2)] == ["a", "b"]
    assert [h.video_id for h in fuse_rrf([b, a], 2)] == ["a", "b"]
    assert fuse_rrf([], 3) == [] and fuse_rrf([[], []], 3) == []


def test_fuse_weighted_normalises_each_list():
    a = [H("x", 100.0), H("y", 50.0), H("z", 0.0)]  # BM25-like scale
    b = [H("z", 0.9), H("y", 0.8), H("x", 0.1)]  # cosine-like scale
    fused = fuse_weighted([a, b], k=3)
    scores = {h.video_id: h.score for h in fused}
    assert scores["x"] == pytest.approx(1.0 + 0.0)
    assert scores["y"] == pytest.approx(0.5 + 0.875)
    assert scores["z"] == pytest.approx(0.0 + 1.0)
    assert [h.video_id for h in fused] == ["y", "x", "z"]
    assert fuse_weighted([[H("only", 3.0)]], k=1)[0].score == pytest.approx(1.0)


def test_hybrid_weighted_fusion_runs(corpus):
    r = HybridRetriever([BM25Retriever(corpus), DenseRetriever(corpus)], fusion="weighted", weights=[0.5, 0.5])
    assert r.search("triangular bandage", 3)[0].video_id == "sling"


def test_rank_videos_uses_each_videos_best_hit():
    hits = [H("a", 0.9, 0, 1), H("b", 0.8), H("a", 0.7, 4, 5), H("c", 0.95)]
    ranked = rank_videos(hits, 5)
    assert [(v, s) for v, s, _ in ranked] == [("c", 0.95), ("a", 0.9), ("b", 0.8)]
    assert ranked[1][2].first_cue == 0
    assert len(rank_videos(hits, 2)) == 2 and rank_videos([], 3) == []


def test_fuse_rrf_does_not_depend_on_the_order_ties_come_in():
    a1 = [H("x", 9.0), H("y", 5.0), H("z", 5.0), H("w", 1.0)]
    a2 = [H("x", 9.0), H("z", 5.0), H("y", 5.0), H("w", 1.0)]  # another engine, ties the other way round
    b = [H("z", 0.9), H("y", 0.8)]
    assert fuse_rrf([a1, b], k=10) == fuse_rrf([a2, b], k=10)
    fused = fuse_rrf([a1, b], k=10)
    assert fused[0].video_id == "z" and fused[0].score == pytest.approx(1 / 62 + 1 / 61)  # y and z share rank 2
    assert fused[-1].video_id == "w" and fused[-1].score == pytest.approx(1 / 64)  # competition ranking: 1, 2, 2, 4


def test_canonical_order_breaks_score_ties_by_window_identity():
    from vcval.types import canonical_order

    hits = [H("b", 2.0000001, 0, 1), H("a", 2.0, 3, 4), H("c", 3.0), H("a", 2.0, 0, 1)]
    assert [(h.video_id, h.first_cue) for h in canonical_order(hits)] == [("c", 0), ("a", 0), ("a", 3), ("b", 0)]
    assert canonical_order(list(reversed(hits))) == canonical_order(hits)


class _Fixed:
    """A retriever that returns the same hits for every query."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits = hits

    def search(self, query: str, k: int) -> list[Hit]:
        return self.hits[:k]


def test_video_prior_adds_the_videos_reciprocal_rank_to_each_of_its_windows():
    windows = _Fixed([H("a", 0.0300, 0, 1), H("b", 0.0299, 0, 1), H("b", 0.020, 2, 3), H("c", 0.010, 0, 1)])
    videos = _Fixed([H("b", 9.0), H("a", 5.0)])  # c is not among the video hits: it gets nothing
    hits = VideoPriorRetriever(windows, videos, weight=1.0).search("q", 10)
    assert [(h.video_id, h.first_cue) for h in hits] == [("b", 0), ("a", 0), ("b", 2), ("c", 0)]
    assert hits[0].score == pytest.approx(0.0299 + 1 / 61)  # second window, first video
    assert hits[1].score == pytest.approx(0.030 + 1 / 62)
    assert hits[3].score == pytest.approx(0.010)
    assert (hits[0].start, hits[0].end) == (windows.hits[1].start, windows.hits[1].end)
    assert VideoPriorRetriever(windows, videos, weight=0.0).search("q", 2) == windows.hits[:2]  # weight 0: unchanged
    assert len(VideoPriorRetriever(windows, videos).search("q", 2)) == 2
    with pytest.raises(InvalidInputError):
        VideoPriorRetriever(windows, videos, weight=-1.0)
    with pytest.raises(InvalidInputError):
        VideoPriorRetriever(windows, videos).search("q", 0)
