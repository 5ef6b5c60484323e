"""Ray ingest on a local cluster: same corpus as one process; a dying worker is retried or reported."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from vcval.corpus import Corpus
from vcval.retrieval import make_retriever

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a local Ray cluster takes ~10-20 s to start on 2 cores

LINES = {
    "sling": ["support an injured arm with a sling", "tie a reef knot above the collarbone"],
    "pasta": ["bring salted water to the boil", "cook the spaghetti for nine minutes"],
    "burn": ["cool a burn under cold running water", "cover it loosely with cling film"],
    "layers": ["open the layers panel in photoshop", "use a layer mask to hide part of the image"],
}


def write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps([{"start": i * 4.0, "duration": 4.0, "text": t} for i, t in enumerate(lines)]))
    return path


@pytest.fixture(scope="module")
def cluster():
    """A 2-node local cluster on loopback (head + one worker node, 1 CPU each)."""
    from vcval.ingest.distributed import init_ray, local_cluster

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    with local_cluster(nodes=2, cpus_per_node=1) as address:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        yield init_ray(address)


@pytest.fixture
def folder(tmp_path) -> Path:
    for name, lines in LINES.items():
        write(tmp_path / "src", name, lines)
    return tmp_path / "src"


def crash_once(item, snapshot, cfg):
    """Kills its worker the first time it prepares 'pasta' (a marker file remembers), then works."""
    from vcval.ingest.distributed import prepare_item

    marker = Path(cfg.root) / "crashed-once"
    if Path(item.path).stem == "pasta" and not marker.exists():
        marker.touch()
        os._exit(1)
    return prepare_item(item, snapshot, cfg)


def crash_always(item, snapshot, cfg):
    from vcval.ingest.distributed import prepare_item

    if Path(item.path).stem == "pasta":
        os._exit(1)
    return prepare_item(item, snapshot, cfg)


def test_ray_ingest_matches_one_process(cluster, folder, tmp_path):
    from vcval.ingest.distributed import ray_ingest

    one = Corpus.open(tmp_path / "one")
    one.add_path(folder, progress=False)
    dist = Corpus.open(tmp_path / "dist")
    records, failures = ray_ingest(dist, [folder], "auto", batch=2)
    assert failures == [] and sorted(r.video_id for r in records) == sorted(LINES)
    for q in ("how to tie a sling", "cook spaghetti"):
        for m in ("bm25", "dense", "hybrid"):
            a = [(h.video_id, h.first_cue, round(h.score, 4)) for h in make_retriever(one, m).search(q, 5)]
            b = [(h.video_id, h.first_cue, round(h.score, 4)) for h in make_retriever(dist, m).search(q, 5)]
            assert a == b
    assert all((tmp_path / "dist" / "encodings" / f"{v}.npz").is_file() for v in LINES)  # made by the workers
    again, failures = ray_ingest(dist, [folder], "auto")  # duplicates are reported, not added
    assert again == [] and len(failures) == len(LINES) and len(dist) == len(LINES)


def test_dead_worker_is_retried(cluster, folder, tmp_path):
    from vcval.ingest.distributed import ray_ingest

    c = Corpus.open(tmp_path / "c")
    records, failures = ray_ingest(c, [folder], "auto", prepare=crash_once, retries=2)
    assert failures == [] and "pasta" in c and (tmp_path / "c" / "crashed-once").exists()


def test_dead_worker_is_reported_and_the_corpus_stays_consistent(cluster, folder, tmp_path):
    from vcval.ingest.distributed import ray_ingest

    c = Corpus.open(tmp_path / "c")
    records, failures = ray_ingest(c, [folder], "auto", prepare=crash_always, retries=1)
    assert [p.stem for p, _ in failures] == ["pasta"] and "worker" in failures[0][1] and "died" in failures[0][1]
    assert sorted(c.video_ids()) == ["burn", "layers", "sling"]
    c.close()
    c = Corpus.open(tmp_path / "c")
    assert c.index_stats()["bm25_videos"] == 3 and not any((tmp_path / "c" / ".staging").iterdir())
    assert make_retriever(c, "bm25").search("cook spaghetti", 3) == []
