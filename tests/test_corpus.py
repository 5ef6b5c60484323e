"""Corpus: ingest, persistence, incremental indexes, crash safety, ids, duplicates, clips."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import vcval.corpus.corpus as corpus_mod
from vcval import media
from vcval.corpus import Corpus
from vcval.corpus.corpus import NO_CUES_WARNING, default_video_id, slugify, validate_video_id
from vcval.corpus.indexes import BM25Index, DenseIndex, read_generation
from vcval.encoders import TextEncoder
from vcval.errors import DuplicateVideoError, InvalidInputError, NotFoundError, VCVALError
from vcval.ingest.windows import WindowConfig
from vcval.retrieval import make_retriever

SLING = [
    "if someone has hurt their arm you can support it with a sling",
    "take a triangular bandage and slide it under the injured arm",
    "bring the top end around the back of the neck",
    "fold the bottom end up over the forearm",
    "tie a reef knot in the hollow above the collarbone",
    "pin the point at the elbow so the arm stays in the sling",
]
LAYERS = [
    "in this tutorial we look at layers in photoshop",
    "open the layers panel from the window menu",
    "click the new layer button at the bottom of the panel",
    "drag a layer to change the stacking order",
    "use a layer mask to hide part of the image",
]
PASTA = [
    "bring a large pot of salted water to the boil",
    "add the spaghetti and stir so it does not stick",
    "cook for nine minutes until al dente",
    "drain the pasta and toss it with the tomato sauce",
]


def write_transcript(folder: Path, name: str, lines: list[str], step: float = 4.0) -> Path:
    """A youtube-transcript JSON file: [{"start", "duration", "text"}]."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps([{"start": i * step, "duration": step, "text": t} for i, t in enumerate(lines)]),
                    encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


@pytest.fixture
def corpus(tmp_path, encoder):
    c = Corpus.open(tmp_path / "corpus", text_encoder=encoder)
    yield c
    c.close()


@pytest.fixture
def transcripts(tmp_path) -> dict[str, Path]:
    src = tmp_path / "src"
    return {"sling": write_transcript(src, "sling", SLING), "layers": write_transcript(src, "layers", LAYERS),
            "pasta": write_transcript(src, "pasta", PASTA)}


def results(c: Corpus) -> dict[str, list]:
    """What every retriever returns for a few questions (rounded scores)."""
    out = {}
    for method in ("bm25", "bm25-video", "dense"):
        r = make_retriever(c, method)
        for q in ("how to tie an arm sling", "cook spaghetti"):
            out[f"{method}:{q}"] = [(h.video_id, h.first_cue, h.last_cue, round(h.score, 4)) for h in r.search(q, 10)]
    return out


def snapshot(root: Path) -> tuple[dict, dict]:
    """Every file's hash (except the live database and lock) and every database row."""
    files = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(root.rglob("*")) if p.is_file() and p.name not in ("corpus.sqlite", ".lock")}
    db = sqlite3.connect(root / "corpus.sqlite")
    rows = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
            for t in ("meta", "videos", "cues", "windows", "sqlite_sequence")}
    db.close()
    return files, rows


# --------------------------------------------------------------------------- ids and helpers
def test_ids_and_slugs():
    assert validate_video_id("abc_DEF-123") == "abc_DEF-123"
    for bad in ("", "../evil", "a/b", "a\\b", "a.b", "with space", "x" * 129, "é"):
        with pytest.raises(InvalidInputError):
            validate_video_id(bad)
    assert slugify("Über Verband  (Teil 2)") == "uber-verband-teil-2"
    assert slugify("包扎") == "video"
    assert default_video_id("My Clip", "0123456789abcdef") == "my-clip-01234567"


def test_open_refuses_a_non_corpus_folder(tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="not a vcval corpus"):
        Corpus.open(tmp_path)
    with pytest.raises(InvalidInputError, match="is a file"):
        Corpus.open(tmp_path / "holiday.jpg")


# --------------------------------------------------------------------------- transcripts
def test_add_transcript_record(corpus, transcripts, tmp_path):
    feats = np.arange(12 * 16, dtype=np.float32).reshape(12, 16)
    np.save(tmp_path / "f.npy", feats)
    rec = corpus.add_transcript(transcripts["sling"], title="Arm sling", features_path=tmp_path / "f.npy")
    assert rec.video_id == "sling"  # the stem is a valid id: dataset ids survive
    assert rec.title == "Arm sling" and rec.subtitle_source == "transcript"
    assert rec.n_cues == len(SLING) and rec.media_path is None
    assert rec.duration == pytest.approx(4.0 * len(SLING))
    assert rec.content_hash == hashlib.sha256(transcripts["sling"].read_bytes()).hexdigest()
    assert [c.text for c in corpus.cues("sling")] == SLING
    np.testing.assert_array_equal(corpus.features("sling"), feats)
    assert corpus.media_file("sling") is None
    wins = corpus.windows("sling")
    assert [(w.first_cue, w.last_cue) for w in wins] == [(0, 3), (2, 5)]
    assert len(corpus) == 1 and "sling" in corpus and "nope" not in corpus
    assert [r.video_id for r in corpus] == corpus.video_ids() == ["sling"]
    assert (corpus.root / "index" / "vectors" / "sling.npy").is_file()
    with pytest.raises(NotFoundError, match="transcript-only"):
        corpus.clip("sling", 0, 2)
    with pytest.raises(NotFoundError):
        corpus.get("nope")


def test_add_transcript_bad_inputs_change_nothing(corpus, transcripts, tmp_path):
    corpus.add_transcript(transcripts["layers"])
    before = snapshot(corpus.root)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros(5))
    with pytest.raises(InvalidInputError, match=r"\(T, D\)"):
        corpus.add_transcript(transcripts["sling"], features_path=bad)
    with pytest.raises(InvalidInputError):
        corpus.add_transcript(transcripts["sling"], video_id="../evil")
    with pytest.raises(InvalidInputError, match="already used"):
        corpus.add_transcript(transcripts["sling"], video_id="layers")
    with pytest.raises(NotFoundError):
        corpus.add_transcript(tmp_path / "missing.json")
    assert snapshot(corpus.root) == before


def test_duplicate_content_under_another_name(corpus, transcripts, tmp_path):
    corpus.add_transcript(transcripts["pasta"])
    copy = tmp_path / "other" / "renamed.json"
    copy.parent.mkdir()
    shutil.copy(transcripts["pasta"], copy)
    with pytest.raises(DuplicateVideoError) as err:
        corpus.add_transcript(copy)
    assert err.value.video_id == "pasta"
    with pytest.raises(DuplicateVideoError):  # inside one batch too
        corpus.add_transcripts([transcripts["sling"], transcripts["sling"]], progress=False)
    assert corpus.video_ids() == ["pasta"]


def test_add_transcripts_batch_and_persistence(tmp_path, encoder, transcripts, monkeypatch):
    root = tmp_path / "c"
    c = Corpus.open(root, text_encoder=encoder)
    recs = c.add_transcripts(list(transcripts.values()), progress=False)
    assert [r.video_id for r in recs] == ["sling", "layers", "pasta"]
    assert c.generation == 1  # one commit for the batch
    before = results(c)
    assert before["bm25:how to tie an arm sling"][0][0] == "sling"
    stats = c.index_stats()
    c.close()
    # reopen: the saved indexes are used as they are (no rebuild, no encoding)
    monkeypatch.setattr(Corpus, "_rebuild_indexes", lambda self: pytest.fail("indexes were rebuilt"))
    c2 = Corpus.open(root, text_encoder=encoder)
    assert results(c2) == before
    assert c2.index_stats() == stats
    assert [r.video_id for r in c2] == ["sling", "layers", "pasta"]
    c2.close()


def test_stale_index_is_rebuilt_from_stored_vectors_without_encoding(tmp_path, encoder, transcripts, monkeypatch):
    root = tmp_path / "c"
    c = Corpus.open(root, text_encoder=encoder)
    c.add_transcripts(list(transcripts.values()), progress=False)
    before = results(c)
    c.close()
    # simulate a crash between writing index files and committing: files one generation ahead
    c_dense, _ = DenseIndex.load(root / "index" / "dense.npz")
    c_dense.save(root / "index" / "dense.npz", generation=99)
    (root / "index" / "bm25_videos.npz").write_bytes(b"garbage")
    with monkeypatch.context() as m:  # the rebuild must not re-encode any window
        m.setattr(encoder, "encode", lambda *a, **k: pytest.fail("re-encoded"))
        c2 = Corpus.open(root, text_encoder=encoder)
        c2.index_stats()
    assert read_generation(root / "index" / "dense.npz") == 1  # rebuilt and re-saved
    assert results(c2) == before
    assert c2.index_stats()["generation"] == 1
    c2.close()


def test_orphans_are_deleted_on_open(tmp_path, encoder, transcripts):
    root = tmp_path / "c"
    c = Corpus.open(root, text_encoder=encoder)
    c.add_transcript(transcripts["sling"])
    c.close()
    junk = [root / "media" / "ghost-1234.mp4", root / "features" / "ghost.npy", root / "index" / "vectors" / "ghost.npy",
            root / "clips" / "ghost_0_1000.mp4", root / "index" / "dense.npz.pending", root / ".staging" / "999999999_dead" / "x"]
    for p in junk:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"junk")
    Corpus.open(root, text_encoder=encoder).close()
    assert not any(p.exists() for p in junk)
    assert not (root / ".staging" / "999999999_dead").exists()
    assert (root / "index" / "vectors" / "sling.npy").is_file()


def test_incremental_add_and_remove(corpus, transcripts):
    corpus.add_transcripts([transcripts["layers"], transcripts["pasta"]], progress=False)
    bm25, dense, video = (make_retriever(corpus, m) for m in ("bm25", "dense", "bm25-video"))
    n0 = corpus.index_stats()["dense_vectors"]
    assert all(h.video_id != "sling" for h in dense.search("arm sling", 20))
    rec = corpus.add_transcript(transcripts["sling"])
    n_sling = len(corpus.windows("sling"))
    assert corpus.index_stats()["dense_vectors"] == n0 + n_sling
    # the same retriever objects see the new video
    assert bm25.search("triangular bandage sling", 3)[0].video_id == "sling"
    assert dense.search("how do I support an injured arm", 3)[0].video_id == "sling"
    assert video.search("sling", 3)[0].video_id == "sling"
    removed = corpus.remove("sling")
    assert removed == rec
    assert corpus.index_stats()["dense_vectors"] == n0
    assert corpus.index_stats()["bm25_videos"] == 2
    for r in (bm25, dense, video):
        assert all(h.video_id != "sling" for h in r.search("arm sling triangular bandage", 50))
    assert not (corpus.root / "index" / "vectors" / "sling.npy").exists()
    with pytest.raises(NotFoundError):
        corpus.remove("sling")
    # it can be added again afterwards (same id)
    assert corpus.add_transcript(transcripts["sling"]).video_id == "sling"


def test_other_corpus_objects_see_commits(tmp_path, encoder, transcripts):
    a = Corpus.open(tmp_path / "c", text_encoder=encoder)
    b = Corpus.open(tmp_path / "c", text_encoder=encoder)
    a.add_transcript(transcripts["sling"])
    assert make_retriever(b, "bm25").search("sling", 1)[0].video_id == "sling"
    b.remove("sling")
    assert len(a) == 0 and a.index_stats()["dense_vectors"] == 0
    a.close()
    b.close()


def test_write_waits_for_the_lock_then_fails_clearly(corpus, transcripts, monkeypatch):
    import fcntl

    corpus.lock_timeout = 0.2
    with open(corpus.root / ".lock", "a+") as fh:  # another writer holds the lock
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        with pytest.raises(VCVALError, match="still locked by .* after 0 s"):
            corpus.add_transcript(transcripts["sling"])
    assert len(corpus) == 0
    corpus.add_transcript(transcripts["sling"])
    assert len(corpus) == 1


class Boom(RuntimeError):
    pass


def _boom(*args, **kwargs):
    raise Boom("injected failure")


@pytest.mark.parametrize("where", ["encode", "vector file", "tokenize", "bm25 save", "dense save"])
def test_failed_transcript_ingest_leaves_corpus_unchanged(corpus, transcripts, encoder, monkeypatch, where):
    corpus.add_transcripts([transcripts["layers"], transcripts["pasta"]], progress=False)
    files_before, rows_before = snapshot(corpus.root)
    res_before = results(corpus)
    target = {"encode": (encoder, "encode"), "vector file": (corpus_mod, "atomic_save_npy"),
              "tokenize": (corpus_mod, "tokenize"), "bm25 save": (BM25Index, "save"),
              "dense save": (DenseIndex, "save")}[where]
    with monkeypatch.context() as m:
        m.setattr(*target, _boom)
        with pytest.raises(Boom):
            corpus.add_transcript(transcripts["sling"])
    assert snapshot(corpus.root) == (files_before, rows_before)
    assert results(corpus) == res_before
    reopened = Corpus.open(corpus.root, text_encoder=encoder)
    assert results(reopened) == res_before
    reopened.close()
    corpus.add_transcript(transcripts["sling"])  # and the corpus still works
    assert corpus.video_ids() == ["layers", "pasta", "sling"]


def test_failed_remove_leaves_corpus_unchanged(corpus, transcripts, monkeypatch):
    corpus.add_transcripts(list(transcripts.values()), progress=False)
    before, res = snapshot(corpus.root), results(corpus)
    monkeypatch.setattr(DenseIndex, "save", _boom)
    with pytest.raises(Boom):
        corpus.remove("sling")
    assert snapshot(corpus.root) == before and results(corpus) == res


def test_add_path_reports_bad_files_and_continues(corpus, tmp_path):
    folder = tmp_path / "in"
    write_transcript(folder, "sling", SLING)
    write_transcript(folder / "sub", "pasta", PASTA)
    (folder / "broken.json").write_text("{not json", encoding="utf-8")
    (folder / "notes.txt").write_text("ignored", encoding="utf-8")
    (folder / "fake.mp4").write_bytes(b"\x00" * 100)
    records, failures = corpus.add_path(folder, progress=False)
    assert sorted(r.video_id for r in records) == ["pasta", "sling"]
    assert sorted(p.name for p, _ in failures) == ["broken.json", "fake.mp4"]
    assert all(reason for _, reason in failures)
    records, failures = corpus.add_path(folder / "notes.txt", progress=False)
    assert records == [] and "unsupported file type" in failures[0][1]
    # not recursive: the sub folder is skipped, the rest are duplicates now
    records, failures = corpus.add_path(folder, recursive=False, progress=False)
    assert records == [] and {p.name for p, _ in failures} == {"sling.json", "broken.json", "fake.mp4"}


def test_add_path_pairs_a_json_transcript_with_its_video(corpus, video_factory, tmp_path):
    video = video_factory("demo.mp4", seconds=3.0, audio=False)
    write_transcript(video.parent, "demo", PASTA[:2], step=1.0)
    records, failures = corpus.add_path(video.parent, progress=False)
    assert failures == [] and len(records) == 1
    assert records[0].subtitle_source == "transcript" and records[0].n_cues == 2
    assert records[0].media_path is not None


# --------------------------------------------------------------------------- videos
def test_video_with_sidecar_srt_end_to_end(corpus, video_factory, sample_srt):
    path = video_factory("first_aid.mp4", seconds=6.0, srt_text=sample_srt)
    stages = []
    rec = corpus.add_video(path, progress=lambda f, desc="": stages.append((f, desc)))
    assert rec.video_id == default_video_id("first_aid", rec.content_hash)
    assert rec.title == "first_aid" and rec.subtitle_source == "sidecar-srt"
    assert rec.n_cues == 3 and rec.duration == pytest.approx(6.0, abs=0.3)
    assert rec.source == str(path.resolve())
    info = media.probe(corpus.media_file(rec.video_id))
    assert info.video_codec == "h264" and info.has_audio
    feats = corpus.features(rec.video_id)
    assert feats.dtype == np.float32 and feats.shape[1] == 1280 and 5 <= feats.shape[0] <= 7
    assert [f for f, _ in stages] == sorted(f for f, _ in stages) and stages[-1][0] == 1.0
    hit = make_retriever(corpus, "bm25").search("tie the sling behind the neck", 1)[0]
    assert hit.video_id == rec.video_id and hit.first_cue <= 2 <= hit.last_cue
    clip = corpus.clip(rec.video_id, 2.0, 4.0)
    assert clip.name == f"{rec.video_id}_2000_4000.mp4"
    assert media.probe(clip).duration == pytest.approx(2.0, abs=0.5)
    mtime = clip.stat().st_mtime_ns
    assert corpus.clip(rec.video_id, 2.0, 4.0) == clip and clip.stat().st_mtime_ns == mtime  # cached
    with pytest.raises(InvalidInputError):
        corpus.clip(rec.video_id, 4.0, 2.0)
    corpus.remove(rec.video_id)
    assert not list((corpus.root / "media").iterdir()) and not list((corpus.root / "clips").iterdir())
    assert not list((corpus.root / "features").iterdir())


def test_unicode_file_name_and_duplicate_video(corpus, video_factory, sample_srt):
    path = video_factory("Über Verband 包扎.mp4", seconds=3.0, srt_text=sample_srt)
    rec = corpus.add_video(path, visual_features=False)
    assert rec.video_id.startswith("uber-verband-") and rec.title == "Über Verband 包扎"
    assert rec.features_path is None and corpus.features(rec.video_id) is None
    copy = path.with_name("copy.mp4")
    shutil.copy(path, copy)
    with pytest.raises(DuplicateVideoError) as err:
        corpus.add_video(copy, visual_features=False)
    assert err.value.video_id == rec.video_id
    with pytest.raises(InvalidInputError):
        corpus.add_video(path, video_id="a/../b")  # the id is checked before anything else


def test_video_without_audio_or_subtitles_is_kept_with_a_warning(corpus, video_factory):
    path = video_factory("silent_knot_demo.mp4", seconds=3.0, audio=False)
    rec = corpus.add_video(path, visual_features=False, video_id="knot")
    assert rec.subtitle_source == "none" and rec.n_cues == 0
    assert NO_CUES_WARNING in corpus.warnings("knot")
    assert corpus.windows("knot") == []
    hit = make_retriever(corpus, "bm25-video").search("knot demo", 3)[0]
    assert (hit.video_id, hit.first_cue, hit.last_cue) == ("knot", 0, -1)  # found by title; no cues
    assert make_retriever(corpus, "bm25").search("knot demo", 3) == []


def test_embedded_subtitles_and_asr_fallback(corpus, video_factory, sample_srt, monkeypatch):
    emb = video_factory("embedded.mp4", seconds=6.0, srt_text=sample_srt, embed_srt=True)
    rec = corpus.add_video(emb, visual_features=False)
    assert rec.subtitle_source == "embedded" and rec.n_cues == 3
    # audio but no subtitles -> speech recognition (stubbed here; tested with the real model in test_asr)
    from vcval.ingest import asr
    from vcval.types import Cue

    calls = []

    def fake_transcribe(path, model=None, device="auto", **kw):
        calls.append((Path(path).parent.name, model))
        return [Cue(0, 0.0, 2.0, "a spoken cue about bandages")]

    monkeypatch.setattr(asr, "transcribe", fake_transcribe)
    corpus.asr_model = "tiny.en"
    rec = corpus.add_video(video_factory("speech.mp4", seconds=3.0), visual_features=False)
    assert rec.subtitle_source == "asr" and [c.text for c in corpus.cues(rec.video_id)] == ["a spoken cue about bandages"]
    assert calls and calls[0][1] == "tiny.en"


@pytest.mark.parametrize("where", ["features", "bm25 save"])
def test_failed_video_ingest_leaves_corpus_unchanged(corpus, transcripts, video_factory, sample_srt, monkeypatch, where):
    corpus.add_transcript(transcripts["pasta"])
    before, res = snapshot(corpus.root), results(corpus)
    path = video_factory("clip.mp4", seconds=3.0, srt_text=sample_srt)
    from vcval.ingest import visual

    with monkeypatch.context() as m:
        if where == "features":
            m.setattr(visual, "extract_visual_features", _boom)
        else:
            m.setattr(visual, "extract_visual_features", lambda p, encoder=None, fps=1.0: np.zeros((3, 1280), np.float32))
            m.setattr(BM25Index, "save", _boom)
        with pytest.raises(Boom):
            corpus.add_video(path)
    assert snapshot(corpus.root) == before and results(corpus) == res
    assert not list((corpus.root / ".staging").iterdir())


def test_add_url_records_the_url(corpus, video_factory, sample_srt, monkeypatch):
    download = pytest.importorskip("vcval.ingest.download")
    video = video_factory("dl.mp4", seconds=3.0)
    subs = video.with_name("dl.en.vtt")
    subs.write_text("WEBVTT\n\n00:00.000 --> 00:02.000\nhello from the captions\n", encoding="utf-8")

    def fake_download(url, workdir, **kw):
        dst = Path(workdir) / "v.mp4"
        shutil.copy(video, dst)
        return download.DownloadResult(video_path=dst, subtitles_path=subs, subtitle_source="captions",
                                       title="Downloaded title", url=url, info={"id": "abc"})

    monkeypatch.setattr(download, "download", fake_download)
    rec = corpus.add_url("https://example.org/watch?v=abc", visual_features=False)
    assert rec.source == "https://example.org/watch?v=abc"
    assert rec.title == "Downloaded title" and rec.subtitle_source == "captions" and rec.n_cues == 1
    assert corpus.info(rec.video_id)["source_kind"] == "url"
    with pytest.raises(InvalidInputError):
        corpus.add_url("ftp://nope")


def test_window_config_is_stored(tmp_path, encoder, transcripts):
    c = Corpus.open(tmp_path / "c", text_encoder=encoder, window=WindowConfig(max_cues=2, stride=1))
    c.add_transcript(transcripts["pasta"])
    c.close()
    c = Corpus.open(tmp_path / "c", text_encoder=encoder)
    assert c.window_config == WindowConfig(max_cues=2, stride=1)
    assert [(w.first_cue, w.last_cue) for w in c.windows("pasta")] == [(0, 1), (1, 2), (2, 3)]
    c.close()


def test_a_corpus_past_the_ivf_limit_serves_an_ivf_index_across_reopen_add_and_remove(tmp_path, encoder, transcripts,
                                                                                       monkeypatch):
    """With the limit lowered to a few windows, the saved dense index is IVF; retrieval, reopening, adding and
    removing a video behave as with the flat index."""
    import vcval.corpus.indexes as indexes

    monkeypatch.setattr(indexes, "IVF_MIN_VECTORS", 2)
    root = tmp_path / "c"
    c = Corpus.open(root, text_encoder=encoder)
    c.add_transcripts([transcripts["layers"], transcripts["pasta"]], progress=False)
    assert c.index_stats()["dense_kind"] == "ivf"
    n0 = c.index_stats()["dense_vectors"]
    c.add_transcript(transcripts["sling"])
    assert make_retriever(c, "dense").search("how do I support an injured arm", 3)[0].video_id == "sling"
    c.close()
    c2 = Corpus.open(root, text_encoder=encoder)
    assert c2.index_stats()["dense_kind"] == "ivf"
    assert make_retriever(c2, "hybrid").search("triangular bandage sling", 3)[0].video_id == "sling"
    c2.remove("sling")
    assert c2.index_stats()["dense_vectors"] == n0
    assert all(h.video_id != "sling" for h in make_retriever(c2, "dense").search("arm sling", 50))
    c2.close()


def test_tied_windows_come_back_in_the_same_order_whatever_the_insertion_order(tmp_path, encoder):
    """Two videos sharing their sentences have identical windows (equal BM25 and dense scores); the corpus
    returns them in video-id order, so index engines that leave ties in other orders agree."""
    src = tmp_path / "src"
    paths = {v: write_transcript(src, v, SLING + [f"this is the {v} edition"]) for v in ("alpha", "beta")}
    lists = []
    for order in (("beta", "alpha"), ("alpha", "beta")):
        c = Corpus.open(tmp_path / "-".join(order), text_encoder=encoder)
        for v in order:
            c.add_transcript(paths[v])
        q = "tie the sling around the neck"
        bm = [(h.video_id, h.first_cue, round(h.score, 4)) for h in c.bm25_search(q, 4)]
        dense = [(h.video_id, h.first_cue, round(h.score, 4)) for h in c.dense_search(encoder.encode([q]), 4)[0]]
        lists.append((bm, dense))
        c.close()
    assert lists[0] == lists[1]
    bm, dense = lists[0]
    assert bm[0][0] == "alpha" and bm[1][0] == "beta" and bm[0][1:] == bm[1][1:]  # a tie, in video-id order
    assert dense[0][0] == "alpha" and dense[0][1:] == dense[1][1:]
