"""Index backends: the embedded default and Milvus (milvus-lite, in process): same answers, reconcile on open,
rollback when Milvus fails, clear errors for bad --index values."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vcval.cli import main
from vcval.corpus import Corpus
from vcval.corpus.backends import IndexBackend, MilvusIndexes, parse_index_url, rrf
from vcval.corpus.indexes import SearchIndexes
from vcval.encoders import TextEncoder
from vcval.errors import InvalidInputError, StorageError
from vcval.retrieval import make_retriever

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

DOCS = {
    "sling": ["if someone has hurt their arm you can support it with a sling",
              "take a triangular bandage and slide it under the injured arm",
              "bring the top end around the back of the neck", "tie a reef knot above the collarbone"],
    "layers": ["in this tutorial we look at layers in photoshop", "open the layers panel from the window menu",
               "click the new layer button", "use a layer mask to hide part of the image"],
    "pasta": ["bring a large pot of salted water to the boil", "add the spaghetti and stir",
              "cook for nine minutes until al dente", "drain the pasta and toss it with the sauce"],
    "burn": ["cool a burn under cold running water for twenty minutes", "do not use ice or butter",
             "cover the burn loosely with cling film"],
}
QUESTIONS = ["how to tie an arm sling", "cook spaghetti", "hide part of an image with a mask", "treat a burn"]


def write(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps([{"start": i * 4.0, "duration": 4.0, "text": t} for i, t in enumerate(lines)]),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


@pytest.fixture
def files(tmp_path) -> list[Path]:
    return [write(tmp_path / "src", name, lines) for name, lines in DOCS.items()]


def lite(tmp_path: Path) -> str:
    return f"milvus-lite://{tmp_path / 'milvus' / 'index.db'}"


def ranked(c: Corpus) -> dict[str, list]:
    out = {}
    for method in ("bm25", "bm25-video", "dense", "hybrid"):
        r = make_retriever(c, method)
        for q in QUESTIONS:
            out[f"{method}:{q}"] = [(h.video_id, h.first_cue) for h in r.search(q, 5)]
    return out


def test_parse_index_url():
    assert parse_index_url(None).kind == "embedded"
    assert parse_index_url("embedded").kind == "embedded"
    spec = parse_index_url("milvus://db.local:19530/lib_a")
    assert (spec.kind, spec.uri, spec.prefix) == ("milvus", "http://db.local:19530", "lib_a")
    assert parse_index_url("milvus-lite:///data/x.db").uri == "/data/x.db"
    assert parse_index_url("milvus://h:19530/lib?index=hnsw").index_type == "HNSW"
    for bad in ("milvus://host", "milvus://host:99999", "milvus://h:1?index=PQ", "milvus://h:1?nlist=9", "milvus-lite://rel/x.db", "milvus-lite:///x.txt",
                "http://host:19530", "faiss"):
        with pytest.raises(InvalidInputError, match="--index"):
            parse_index_url(bad)


def test_cli_bad_index_is_one_line(tmp_path, capsys):
    assert main(["corpus", "list", "--corpus", str(tmp_path / "c"), "--index", "mongo://x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "milvus://HOST:PORT" in err and "Traceback" not in err


def test_unreachable_server_is_a_storage_error(tmp_path):
    with pytest.raises(StorageError, match="cannot reach the Milvus server"):
        Corpus.open(tmp_path / "c", index="milvus://127.0.0.1:1")


def test_both_backends_implement_the_interface(tmp_path):
    from pymilvus import MilvusClient

    assert isinstance(SearchIndexes(), IndexBackend)
    assert isinstance(MilvusIndexes(MilvusClient(str(tmp_path / "m.db")), "t"), IndexBackend)
    scores, ids = rrf([(np.zeros(3), np.array([5, 6, 7])), (np.zeros(2), np.array([7, 5]))], 2)
    assert ids.tolist() == [5, 7] and scores[0] == pytest.approx(1 / 61 + 1 / 62)


def test_milvus_answers_like_the_embedded_index(tmp_path, files, encoder):
    emb = Corpus.open(tmp_path / "emb", text_encoder=encoder)
    emb.add_transcripts(files, progress=False)
    mil = Corpus.open(tmp_path / "mil", text_encoder=encoder, index=lite(tmp_path))
    mil.add_transcripts(files, progress=False)
    assert mil.index_stats()["backend"] == "milvus"
    assert mil.index_stats()["dense_vectors"] == emb.index_stats()["dense_vectors"] > 0
    assert ranked(mil) == ranked(emb)
    q = QUESTIONS[0]
    vec = encoder.encode([q])[0]
    assert [h.video_id for h in mil.hybrid_search(q, vec, 3)] == [h.video_id for h in emb.hybrid_search(q, vec, 3)]
    assert not (tmp_path / "mil" / "index" / "dense.npz").exists()  # the embedded index files are not written


def test_milvus_and_embedded_agree_on_tied_windows(tmp_path, files, encoder):
    """Copies of one video's sentences (a re-upload, a lecture series repeating its intro) give windows of
    equal scores; both backends return them in canonical order, whatever order each engine left them in."""
    twins = [write(tmp_path / "src", f"sling_copy_{n}", DOCS["sling"] + [f"copy number {n} of the sling video"])
             for n in range(3)]
    everything = files + list(reversed(twins))
    emb = Corpus.open(tmp_path / "emb", text_encoder=encoder)
    emb.add_transcripts(everything, progress=False)
    mil = Corpus.open(tmp_path / "mil", text_encoder=encoder, index=lite(tmp_path))
    mil.add_transcripts(list(reversed(everything)), progress=False)
    assert ranked(mil) == ranked(emb)
    top = [h.video_id for h in make_retriever(emb, "bm25").search(QUESTIONS[0], 4)]
    assert top[:3] == sorted(top[:3])  # the tied copies, by video id


def test_remove_and_reopen(tmp_path, files, encoder):
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, index=lite(tmp_path))
    c.add_transcripts(files, progress=False)
    c.remove("pasta")
    assert all(h.video_id != "pasta" for h in make_retriever(c, "hybrid").search("cook spaghetti", 10))
    n = c.index_stats()["dense_vectors"]
    c.close()
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, index=lite(tmp_path))
    assert c.index_stats()["bm25_videos"] == 3 and c.index_stats()["dense_vectors"] == n
    assert make_retriever(c, "bm25").search("arm sling", 1)[0].video_id == "sling"


def test_reconcile_on_open(tmp_path, files, encoder):
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, index=lite(tmp_path))
    c.add_transcripts(files, progress=False)
    backend = c._remote
    assert backend is not None
    pks = {vid: pk for pk, vid in backend.video_ids().items()}
    backend.delete_videos([pks["burn"]])  # a crash after the catalog commit, before Milvus
    backend.add_video(999, ["ghost", "video"], [99_901], [["ghost", "window"]], video_id="ghost")
    backend.add_vectors(np.array([99_901]), np.ones((1, encoder.dim), np.float32) / np.sqrt(encoder.dim))
    backend.save()  # rows of a video the catalog does not have (its transaction rolled back)
    c.close()
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, index=lite(tmp_path))
    assert set(c._remote.video_ids().values()) == set(DOCS)
    assert make_retriever(c, "bm25").search("treat a burn", 1)[0].video_id == "burn"
    assert make_retriever(c, "bm25").search("ghost", 5) == []


def test_milvus_failure_rolls_back(tmp_path, files, encoder, monkeypatch):
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, index=lite(tmp_path))
    c.add_transcripts(files[:2], progress=False)
    backend = c._remote
    real = backend.client.upsert

    def failing(name, rows, **kw):
        if name == backend.windows:  # the video row is written, then the server goes away
            raise ConnectionError("server closed the connection")
        return real(name, rows, **kw)

    monkeypatch.setattr(backend.client, "upsert", failing)
    with pytest.raises(StorageError, match="Milvus index"):
        c.add_transcript(files[2])
    monkeypatch.setattr(backend.client, "upsert", real)
    assert "pasta" not in c and len(c) == 2
    assert sorted(backend.video_ids().values()) == ["layers", "sling"]
    assert backend.stats()["dense_vectors"] == c.index_stats()["windows"]  # the pasta windows were removed
    c.add_transcript(files[2])
    assert make_retriever(c, "bm25").search("cook spaghetti", 1)[0].video_id == "pasta"


def test_embedded_default_unchanged(tmp_path, files, encoder, monkeypatch):
    monkeypatch.delenv("VCVAL_INDEX", raising=False)
    c = Corpus.open(tmp_path / "c", text_encoder=encoder)
    c.add_transcripts(files, progress=False)
    assert c._remote is None and (tmp_path / "c" / "index" / "dense.npz").is_file()
    assert "backend" not in c.index_stats()
