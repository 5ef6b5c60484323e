"""scripts/cuespan_probes.py: the siblings probe's layout plays each video among the ones closest in topic."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location(
    "cuespan_probes", Path(__file__).resolve().parents[1] / "scripts" / "cuespan_probes.py")
probes = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(probes)


def fake_data(topics: dict[str, list[float]]) -> SimpleNamespace:
    """Each video: 3 sentence vectors around its topic direction."""
    rng = np.random.default_rng(0)
    units = {}
    for vid, t in topics.items():
        vecs = np.array(t, np.float32) + 0.05 * rng.standard_normal((3, len(t))).astype(np.float32)
        units[vid] = SimpleNamespace(vectors=vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    return SimpleNamespace(units=units)


def test_siblings_are_the_videos_closest_in_topic_and_the_layout_is_seeded():
    data = fake_data({"sling": [1, 0, 0], "sling2": [0.9, 0.1, 0], "cast": [0.7, 0.7, 0], "burn": [0, 0, 1],
                      "scald": [0, 0.2, 0.9], "blister": [0.2, 0, 0.9]})
    questions = [SimpleNamespace(video_id="sling"), SimpleNamespace(video_id="burn")]
    pool = sorted(data.units)
    layout = probes.sibling_layout(data, questions, pool, 2, seed=0)
    assert [sorted(others) for others, _ in layout] == [["cast", "sling2"], ["blister", "scald"]]
    assert all(0 <= pos <= 2 for _, pos in layout)
    assert layout == probes.sibling_layout(data, questions, pool, 2, seed=0)  # the same for every checkpoint
    with pytest.raises(ValueError, match="needs 6 other videos"):
        probes.sibling_layout(data, questions, pool, 6)
