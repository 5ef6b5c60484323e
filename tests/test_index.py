"""Windows, the FAISS dense index and the BM25 index (no model needed)."""
from __future__ import annotations

import numpy as np
import pytest

from vcval.corpus.indexes import BM25Index, DenseIndex, read_generation, tokenize
from vcval.errors import InvalidInputError
from vcval.ingest.windows import WindowConfig, make_windows
from vcval.types import Cue


def _cues(spec: list[tuple[float, float]]) -> list[Cue]:
    return [Cue(i, s, e, f"cue{i}") for i, (s, e) in enumerate(spec)]


def _regular(n: int, step: float = 3.0) -> list[Cue]:
    return _cues([(i * step, (i + 1) * step) for i in range(n)])


def test_no_cues_no_windows():
    assert make_windows([], WindowConfig()) == []


def test_windows_overlap_and_cover_every_cue():
    cues = _regular(11)
    wins = make_windows(cues, WindowConfig(max_cues=4, max_seconds=30.0, stride=2))
    assert [(w.first_cue, w.last_cue) for w in wins] == [(0, 3), (2, 5), (4, 7), (6, 9), (8, 10)]
    covered = {i for w in wins for i in range(w.first_cue, w.last_cue + 1)}
    assert covered == set(range(11))
    w = wins[1]
    assert (w.start, w.end) == (6.0, 18.0)
    assert w.text == "cue2 cue3 cue4 cue5"


def test_max_seconds_limits_windows_without_skipping_cues():
    # cue 1 is 40 s long: it must be a window of its own and no cue may be skipped
    cues = _cues([(0, 2), (2, 42), (42, 44), (44, 46), (46, 48)])
    wins = make_windows(cues, WindowConfig(max_cues=4, max_seconds=30.0, stride=3))
    covered = {i for w in wins for i in range(w.first_cue, w.last_cue + 1)}
    assert covered == set(range(5))
    for w in wins:
        assert w.last_cue - w.first_cue + 1 <= 4
        assert w.end - w.start <= 30.0 or w.first_cue == w.last_cue
    assert wins[-1].last_cue == 4


def test_single_cue_and_stride_larger_than_window():
    assert [(w.first_cue, w.last_cue) for w in make_windows(_regular(1))] == [(0, 0)]
    wins = make_windows(_regular(7), WindowConfig(max_cues=2, max_seconds=30.0, stride=5))
    assert [(w.first_cue, w.last_cue) for w in wins] == [(0, 1), (2, 3), (4, 5), (6, 6)]


def test_window_config_validation_and_round_trip():
    cfg = WindowConfig(max_cues=3, max_seconds=20.0, stride=1)
    assert WindowConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ({"max_cues": 0}, {"stride": 0}, {"max_seconds": 0.0}):
        with pytest.raises(InvalidInputError):
            WindowConfig(**bad)


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_dense_add_search_remove_save_load(tmp_path):
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 10, 8)
    idx = DenseIndex(8)
    idx.add(np.arange(100, 110), vecs)
    assert idx.ntotal == 10
    scores, ids = idx.search(vecs[[3, 7]], k=3)
    assert scores.shape == ids.shape == (2, 3)
    assert ids[0, 0] == 103 and ids[1, 0] == 107
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    assert idx.remove([103, 999]) == 1
    assert idx.ntotal == 9
    _, ids = idx.search(vecs[[3]], k=9)
    assert 103 not in ids
    idx.save(tmp_path / "d.npz", generation=7)
    assert read_generation(tmp_path / "d.npz") == 7
    loaded, gen = DenseIndex.load(tmp_path / "d.npz")
    assert gen == 7 and loaded.ntotal == 9 and loaded.dim == 8
    s2, i2 = loaded.search(vecs[:2], k=4)
    s1, i1 = idx.search(vecs[:2], k=4)
    np.testing.assert_array_equal(i1, i2)
    # k larger than the index and an empty index
    assert idx.search(vecs[:1], k=50)[1].shape == (1, 9)
    assert DenseIndex(8).search(vecs[:2], k=5)[1].shape == (2, 0)


def test_large_dense_index_becomes_ivf_with_high_recall_and_keeps_working(tmp_path):
    """Past the size limit a saved flat index becomes IVF: same ids, recall@10 against exact search stays
    high, removing and adding still work, and the kind survives save / load."""
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((40, 32)).astype(np.float32)
    x = centers[rng.integers(0, 40, 4000)] + 0.3 * rng.standard_normal((4000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(1000, 5000, dtype=np.int64)
    exact = DenseIndex(32)
    exact.add(ids, x)
    index = DenseIndex(32)
    index.add(ids, x)
    assert not index.upgrade_if_large(min_vectors=5000) and index.kind == "flat"  # below the limit
    assert index.upgrade_if_large(min_vectors=3000) and index.kind == "ivf" and index.ntotal == 4000
    queries = x[:50] + 0.1 * rng.standard_normal((50, 32)).astype(np.float32)
    _, want = exact.search(queries, 10)
    _, got = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got)])
    assert recall >= 0.9
    assert index.remove(ids[:100]) == 100 and index.ntotal == 3900
    assert not set(index.search(x[:5], 10)[1].ravel()) & set(ids[:100].tolist())
    index.add([9999], x[:1])
    assert 9999 in index.search(x[:1], 2)[1][0]  # the same vector as id 1000: both score 1.0
    index.save(tmp_path / "d.npz", generation=3)
    loaded, gen = DenseIndex.load(tmp_path / "d.npz")
    assert gen == 3 and loaded.kind == "ivf" and loaded.ntotal == 3901
    assert np.array_equal(loaded.search(queries, 10)[1], index.search(queries, 10)[1])


def test_dense_rejects_wrong_shapes():
    idx = DenseIndex(4)
    with pytest.raises(InvalidInputError):
        idx.add([1], np.zeros((1, 5), np.float32))
    with pytest.raises(InvalidInputError):
        idx.add([1, 2], np.zeros((1, 4), np.float32))


def test_tokenize_lowercases_and_drops_stopwords():
    assert tokenize(["How to put ON the Sling?"]) == [["put", "sling"]]
    assert tokenize([]) == []


def test_bm25_search_refits_after_changes(tmp_path):
    docs = {
        1: "place the arm in a triangular bandage sling",
        2: "photoshop layers and masks",
        3: "boil the pasta in salted water",
    }
    idx = BM25Index()
    idx.add(list(docs), tokenize(list(docs.values())))
    scores, ids = idx.search("arm sling", k=5)
    assert ids.tolist() == [1] and scores[0] > 0
    assert idx.search("zebra unicorn", k=5)[1].size == 0  # no known token -> nothing
    assert idx.search("", k=5)[1].size == 0
    # a new document containing "sling" lowers its IDF: the score of doc 1 must change
    before = float(idx.search("sling", k=1)[0][0])
    idx.add([4], tokenize(["sling sling sling for the shoulder"]))
    s, i = idx.search("sling", k=5)
    assert set(i.tolist()) == {1, 4}
    assert float(s[i.tolist().index(1)]) != pytest.approx(before)
    assert idx.remove([4, 42]) == 1
    assert idx.search("sling", k=5)[1].tolist() == [1]
    idx.save(tmp_path / "b.npz", generation=3)
    loaded, gen = BM25Index.load(tmp_path / "b.npz")
    assert gen == 3 and len(loaded) == 3
    np.testing.assert_allclose(loaded.search("arm sling", 5)[0], idx.search("arm sling", 5)[0])


def test_bm25_empty_index_and_empty_documents():
    idx = BM25Index()
    assert idx.search("anything", 3)[1].size == 0
    idx.add([1], [[]])
    assert idx.search("anything", 3)[1].size == 0


def test_read_generation_of_missing_or_broken_file(tmp_path):
    assert read_generation(tmp_path / "missing.npz") is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert read_generation(tmp_path / "broken.npz") is None


def test_bm25_stems_only_when_asked(monkeypatch):
    """Stemming is an explicit opt-in ($VCVAL_BM25_STEMMER), never a side effect of PyStemmer being installed."""
    import sys
    import types

    from vcval.corpus import indexes
    from vcval.errors import VCVALError

    class FakeStemmer:
        def __init__(self, language: str) -> None:
            if language != "english":
                raise KeyError(language)

        def stemWords(self, words):  # noqa: N802 - PyStemmer's name
            return [w[:6] for w in words]  # "bandaging", "bandage" -> "bandag"

    fake = types.ModuleType("Stemmer")
    fake.Stemmer = FakeStemmer
    fake.algorithms = lambda: ["english"]
    monkeypatch.setitem(sys.modules, "Stemmer", fake)
    monkeypatch.delenv(indexes.STEMMER_ENV, raising=False)
    plain = indexes.BM25Index()
    plain.add([1, 2], [["bandaging", "wrist"], ["bandage", "ankle"]])
    assert plain.search("bandage", 5)[1].tolist() == [2]  # installed, but not asked for: no stemming
    monkeypatch.setenv(indexes.STEMMER_ENV, "english")
    stemmed = indexes.BM25Index()
    stemmed.add([1, 2], [["bandaging", "wrist"], ["bandage", "ankle"]])
    assert sorted(stemmed.search("bandage", 5)[1].tolist()) == [1, 2]
    monkeypatch.setenv(indexes.STEMMER_ENV, "klingon")
    with pytest.raises(VCVALError, match="not a stemmer language"):
        indexes.BM25Index()
    monkeypatch.setitem(sys.modules, "Stemmer", None)
    monkeypatch.setenv(indexes.STEMMER_ENV, "english")
    with pytest.raises(VCVALError, match="needs PyStemmer"):
        indexes.BM25Index()
