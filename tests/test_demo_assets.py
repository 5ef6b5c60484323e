"""The embedded demo corpus (assets/demo): media, subtitles, catalog and questions agree."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import srt

DEMO = Path(__file__).resolve().parents[1] / "assets" / "demo"
SR = 8000  # decode rate for the audio/subtitle alignment check


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _catalog() -> list[dict]:
    return json.loads((DEMO / "catalog.json").read_text(encoding="utf-8"))["videos"]


def _questions() -> list[dict]:
    return json.loads((DEMO / "questions.json").read_text(encoding="utf-8"))


def _probe(path: Path) -> tuple[str, str, float]:
    """(video codec, audio codec, duration s) parsed from `ffmpeg -i` (there is no ffprobe)."""
    err = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    dur = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", err)
    vid = re.search(r"Stream #\S+.*?: Video: (\w+)", err)
    aud = re.search(r"Stream #\S+.*?: Audio: (\w+)", err)
    assert dur and vid and aud, err
    h, m, s = dur.groups()
    return vid.group(1), aud.group(1), int(h) * 3600 + int(m) * 60 + float(s)


def _cues(slug: str) -> list[srt.Subtitle]:
    return list(srt.parse((DEMO / f"{slug}.srt").read_text(encoding="utf-8")))


SLUGS = [e["slug"] for e in _catalog()] if (DEMO / "catalog.json").exists() else []


def test_catalog_shape_and_size():
    cat = _catalog()
    assert len(cat) == 8
    assert len({e["slug"] for e in cat}) == 8
    assert len({e["title"].lower() for e in cat}) == 8, "topics must be distinct"
    files = {p.name for p in DEMO.iterdir() if p.is_file()}
    for e in cat:
        assert {f"{e['slug']}.mp4", f"{e['slug']}.srt"} <= files
        assert e["title"] and e["description"]
        assert 60 <= e["duration"] <= 150
        steps = e["steps"]
        assert 6 <= len(steps) <= 10
        assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
        assert all(0 <= s["start"] < s["end"] <= e["duration"] for s in steps)
        assert all(a["end"] <= b["start"] for a, b in zip(steps, steps[1:]))
    total = sum(p.stat().st_size for p in DEMO.iterdir() if p.is_file())
    assert total < 15e6, f"assets/demo is {total / 1e6:.1f} MB (limit 15 MB)"


@pytest.mark.parametrize("slug", SLUGS)
def test_media_and_subtitles(slug):
    entry = next(e for e in _catalog() if e["slug"] == slug)
    vcodec, acodec, duration = _probe(DEMO / f"{slug}.mp4")
    assert (vcodec, acodec) == ("h264", "aac")
    assert 60 <= duration <= 150
    assert abs(duration - entry["duration"]) < 0.2
    cues = _cues(slug)
    assert len(cues) == entry["n_cues"] >= 10
    for a, b in zip(cues, cues[1:]):
        assert a.end <= b.start, f"{slug}: overlapping cues {a.index} and {b.index}"
    for c in cues:
        assert 0 <= c.start.total_seconds() < c.end.total_seconds() <= duration
        assert c.content.strip()


@pytest.mark.parametrize("slug", SLUGS[:3])
def test_subtitles_match_speech(slug):
    """Narration is loud inside every cue and silent in the pauses between cues."""
    raw = subprocess.run([_ffmpeg(), "-loglevel", "error", "-i", str(DEMO / f"{slug}.mp4"), "-vn", "-ac", "1",
                          "-ar", str(SR), "-f", "s16le", "-"], capture_output=True, check=True).stdout
    x = np.frombuffer(raw, dtype=np.int16).astype(np.float32)  # (N,)

    def rms(a: float, b: float) -> float:
        seg = x[int(a * SR): int(b * SR)]
        return float(np.sqrt(np.mean(seg ** 2))) if seg.size else 0.0

    cues = _cues(slug)
    for c in cues:
        assert rms(c.start.total_seconds(), c.end.total_seconds()) > 800, f"{slug}: no speech in cue {c.index}"
    for a, b in zip(cues, cues[1:]):
        gap0, gap1 = a.end.total_seconds() + 0.06, b.start.total_seconds() - 0.06
        if gap1 - gap0 > 0.1:
            assert rms(gap0, gap1) < 200, f"{slug}: speech between cues {a.index} and {b.index}"
    loud = np.flatnonzero(np.abs(x) > 300)
    assert abs(loud[0] / SR - cues[0].start.total_seconds()) < 0.1
    assert abs(loud[-1] / SR - cues[-1].end.total_seconds()) < 0.1


def test_questions_consistent_with_catalog():
    cat = {e["slug"]: e for e in _catalog()}
    qs = _questions()
    assert len(qs) == 3 * len(cat)
    assert len({q["question"] for q in qs}) == len(qs)
    for slug in cat:
        assert sum(q["slug"] == slug for q in qs) == 3
    for q in qs:
        e = cat[q["slug"]]
        assert q["title"] == e["title"]
        assert q["question"].endswith("?")
        first, last = q["steps"]
        assert 1 <= first <= last <= len(e["steps"])
        assert q["answer_start"] == e["steps"][first - 1]["start"]
        assert q["answer_end"] == e["steps"][last - 1]["end"]
        assert 0 <= q["answer_start"] < q["answer_end"] <= e["duration"]
        # the span starts and ends on cue boundaries of that video's subtitles
        cues = _cues(q["slug"])
        starts = {round(c.start.total_seconds(), 2) for c in cues}
        ends = {round(c.end.total_seconds(), 2) for c in cues}
        assert min(abs(q["answer_start"] - s) for s in starts) < 0.011
        assert min(abs(q["answer_end"] - t) for t in ends) < 0.011


def test_demo_catalog_and_questions_load():
    from vcval.demo import demo_catalog, demo_questions

    videos = demo_catalog()
    assert [v.slug for v in videos] == SLUGS
    assert all(v.video.is_file() and v.subtitles.is_file() for v in videos)
    qs = demo_questions()
    assert len(qs) == 24 and {q.slug for q in qs} == set(SLUGS)


def test_default_demo_dir_honours_vcval_home(monkeypatch, tmp_path):
    from vcval.demo import default_demo_dir

    monkeypatch.setenv("VCVAL_HOME", str(tmp_path))
    assert default_demo_dir() == tmp_path / "demo-corpus"
    monkeypatch.delenv("VCVAL_HOME")
    assert default_demo_dir() == Path.home() / ".cache" / "vcval" / "demo-corpus"


def test_ensure_demo_corpus_ingests_once_and_reuses(tmp_path, video_factory, sample_srt):
    """First call ingests, a second call reuses the corpus, a changed asset is replaced (synthetic assets)."""
    from vcval.demo import ensure_demo_corpus
    from vcval.errors import NotFoundError

    assets = tmp_path / "assets"
    assets.mkdir()
    video = video_factory("assets/sling.mp4", seconds=6.0, srt_text=sample_srt)
    entry = {"slug": "sling", "title": "Sling demo", "description": "d", "duration": 6.0,
             "video": video.name, "subtitles": "sling.srt"}
    (assets / "catalog.json").write_text(json.dumps({"videos": [entry]}), encoding="utf-8")

    corpus = ensure_demo_corpus(tmp_path / "corpus", assets_dir=assets, visual_features=False)
    rec = corpus.get("sling")
    assert rec.title == "Sling demo" and rec.subtitle_source == "sidecar-srt" and rec.n_cues == 3
    assert corpus.media_file("sling").is_file()
    generation, content_hash = corpus.generation, rec.content_hash
    corpus.close()

    again = ensure_demo_corpus(tmp_path / "corpus", assets_dir=assets, visual_features=False)
    assert again.generation == generation and len(again) == 1  # reused: nothing re-ingested
    again.close()

    video_factory("assets/sling.mp4", seconds=5.0, srt_text=sample_srt)  # the asset changed
    third = ensure_demo_corpus(tmp_path / "corpus", assets_dir=assets, visual_features=False)
    assert len(third) == 1 and third.get("sling").content_hash != content_hash
    third.close()

    with pytest.raises(NotFoundError, match="demo corpus assets are missing"):
        ensure_demo_corpus(tmp_path / "corpus", assets_dir=tmp_path / "nowhere")
