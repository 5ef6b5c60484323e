"""The `vcval` command line, end to end on small corpora made in the test."""
from __future__ import annotations

import json
import subprocess

import pytest

from vcval.cli import main

SLING = [
    {"start": 0.0, "duration": 4.0, "text": "Welcome to this first aid video."},
    {"start": 4.0, "duration": 5.0, "text": "Fold a triangular bandage to make an arm sling."},
    {"start": 9.0, "duration": 5.0, "text": "Slide the sling under the injured arm and tie it behind the neck."},
    {"start": 14.0, "duration": 4.0, "text": "Thanks for watching."},
]
BURN = [
    {"start": 0.0, "duration": 5.0, "text": "Cool a minor burn under cool running water for twenty minutes."},
    {"start": 5.0, "duration": 5.0, "text": "Cover the burn loosely with cling film."},
]


@pytest.fixture
def transcripts(tmp_path):
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "sling01.json").write_text(json.dumps(SLING))
    (folder / "burn01.json").write_text(json.dumps(BURN))
    return folder


def test_ingest_list_ask_remove(tmp_path, transcripts, capsys):
    corpus = str(tmp_path / "corpus")
    assert main(["ingest", str(transcripts), "--corpus", corpus, "--quiet"]) == 0
    assert main(["corpus", "list", "--corpus", corpus, "--json"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("[") :])
    assert {r["video_id"] for r in listed} == {"sling01", "burn01"}

    assert main(["ask", "how do I tie an arm sling?", "--corpus", corpus, "--k", "3", "--json", "--method", "hybrid"]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert answers[0]["video_id"] == "sling01"
    assert set(answers[0]) >= {"video_id", "start", "end", "score", "cues"}
    assert 4.0 <= answers[0]["start"] < answers[0]["end"] <= 18.0
    assert any("sling" in c["text"] for c in answers[0]["cues"])

    assert main(["corpus", "remove", "sling01", "--corpus", corpus]) == 0
    capsys.readouterr()
    assert main(["ask", "how do I tie an arm sling?", "--corpus", corpus, "--json", "--method", "hybrid"]) == 0
    assert all(a["video_id"] != "sling01" for a in json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("question", ["", "   \n "])
def test_empty_question_is_a_clear_error(tmp_path, transcripts, capsys, question):
    corpus = str(tmp_path / "corpus")
    main(["ingest", str(transcripts / "sling01.json"), "--corpus", corpus, "--quiet"])
    capsys.readouterr()
    assert main(["ask", question, "--corpus", corpus, "--method", "hybrid"]) == 2
    err = capsys.readouterr().err
    assert "question is empty" in err and "Traceback" not in err


def test_question_on_empty_corpus(tmp_path, capsys):
    assert main(["ask", "how to splint a finger", "--corpus", str(tmp_path / "empty"), "--method", "hybrid"]) == 2
    assert "corpus is empty" in capsys.readouterr().err


def test_non_http_url_is_rejected(tmp_path, capsys):
    assert main(["ingest", "ftp://example.org/video.mp4", "--corpus", str(tmp_path / "c"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "http" in err and "Traceback" not in err
    assert main(["corpus", "list", "--corpus", str(tmp_path / "c")]) == 0
    assert "empty" in capsys.readouterr().out


def test_video_with_sidecar_to_clip(tmp_path, video_factory, sample_srt, capsys):
    """The whole path: ingest a real (synthetic) video + .srt, ask, get an H.264 answer clip."""
    video = video_factory("sling lesson.mp4", seconds=6.0, srt_text=sample_srt)
    corpus = str(tmp_path / "corpus")
    assert main(["ingest", str(video), "--corpus", corpus, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["ask", "where do I tie the sling?", "--corpus", corpus, "--json", "--clip", "--method", "hybrid"]) == 0
    answers = json.loads(capsys.readouterr().out)
    clip = answers[0]["clip"]
    import imageio_ffmpeg

    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", clip], capture_output=True, text=True)
    assert "h264" in probe.stderr and "aac" in probe.stderr
    # ingesting the same bytes again is refused and leaves one video
    assert main(["ingest", str(video), "--corpus", corpus, "--quiet"]) == 1
    assert "already" in capsys.readouterr().err
