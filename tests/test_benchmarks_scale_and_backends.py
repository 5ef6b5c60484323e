"""The scale benchmark measures the corpus's own IVF index against exact search; the backend comparison counts agreement."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_scale  # noqa: E402

from vcval.corpus.indexes import IVF_NPROBE, ivf_cells  # noqa: E402


def test_ivf_cells_grow_with_the_square_root_and_keep_39_points_per_cell():
    assert ivf_cells(1_000) == 25  # 1000 // 39
    assert ivf_cells(219_182) == int(4 * np.sqrt(219_182))
    assert ivf_cells(10_000_000) == 4096
    assert ivf_cells(1) == 1


def test_faiss_choices_times_the_corpus_ivf_index_and_its_recall_against_flat():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(20, 16))
    base = (centers[rng.integers(0, 20, 4000)] + 0.3 * rng.normal(size=(4000, 16))).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    queries = base[rng.choice(4000, 12, replace=False)] + 0.05 * rng.normal(size=(12, 16)).astype(np.float32)

    def chunks(limit):
        for a in range(0, len(base), 1500):
            block = base[a:a + 1500]
            yield block if limit is None else block[:limit]

    kept: dict = {}
    res = bench_scale.faiss_choices(base, chunks, 16, len(base), queries.astype(np.float32), ["ivf"], keep=kept)
    assert set(res) == {"flat", "ivf"} and res["flat"]["recall"] == 1.0
    assert kept["ivf"].kind == "ivf" and kept["ivf"].ntotal == 4000
    assert 0.8 <= res["ivf"]["recall"] <= 1.0  # nprobe IVF_NPROBE of ivf_cells(4000) cells
    assert IVF_NPROBE <= ivf_cells(4000)
    _, ids = kept["ivf"].search(base[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]  # ids are the vectors' positions


def test_backend_agreement_counts_two_empty_lists_as_agreeing():
    import bench_backends

    c = bench_backends.compare([["a", "b"], [], ["c"]], [["b", "a"], [], ["d"]])
    assert c["overlap"] == pytest.approx(100 * 2 / 3)
    assert c["identical"] == pytest.approx(100 / 3) and c["same_first"] == pytest.approx(100 / 3)
