"""Tests for vcval.ingest.asr: the bundled tiny.en model, speech -> cues, silence, bad models."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from vcval import media
from vcval.errors import InvalidInputError, NetworkError
from vcval.ingest import asr

SENTENCE = "First, wash your hands with soap and water. Next, place the sling under the injured arm."


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory):
    """A 160x120 video whose audio track is espeak-ng reading SENTENCE."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    d = tmp_path_factory.mktemp("asr")
    wav = d / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SENTENCE], check=True, capture_output=True)
    out = d / "speech.mp4"
    subprocess.run([media.ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", "color=c=blue:s=160x120:r=5",
                    "-i", str(wav), "-shortest", "-c:v", "mpeg4", "-c:a", "aac", str(out)], check=True)
    return out


def test_default_model_is_bundled_english_tiny():
    path = asr.default_model_dir()
    assert (path / "model.bin").is_file()
    assert 60e6 < (path / "model.bin").stat().st_size < 90e6  # tiny (39 M params, fp16); base is ~145 MB
    model = asr.load_model(device="cpu")
    assert model.model.is_multilingual is False  # an English-only (.en) model
    assert asr.load_model(device="cpu") is model  # cached per (model, device)


def test_transcribe_speech_video(speech_video):
    cues = asr.transcribe(speech_video, device="cpu")
    assert cues, "no speech recognised"
    words = " ".join(c.text.lower() for c in cues)
    assert sum(w in words for w in ["wash", "hands", "soap", "water", "sling", "arm"]) >= 4, words
    assert [c.index for c in cues] == list(range(len(cues)))
    assert all(0.0 <= c.start < c.end <= 6.5 for c in cues)
    assert all(a.start <= b.start for a, b in zip(cues, cues[1:]))


def test_transcribe_tone_only_returns_empty(video_factory):
    assert asr.transcribe(video_factory("tone.mp4", seconds=3.0), device="cpu") == []


def test_transcribe_video_without_audio_returns_empty(video_factory):
    assert asr.transcribe(video_factory("mute.mp4", seconds=1.0, audio=False), device="cpu") == []


def test_named_model_offline_raises_network_error(tmp_path):
    # conftest sets HF_HUB_OFFLINE=1 and the download root is empty: nothing to fall back on
    with pytest.raises(NetworkError, match="base.en.*internet"):
        asr.load_model("base.en", device="cpu", download_root=tmp_path / "hf")


@pytest.mark.parametrize("bad", ["not-a-model", "/definitely/not/here"])
def test_unknown_model_raises_invalid_input(bad):
    with pytest.raises(InvalidInputError, match="unknown speech model"):
        asr.load_model(bad, device="cpu")


def test_model_dir_without_weights(tmp_path):
    with pytest.raises(InvalidInputError, match="no model.bin"):
        asr.load_model(tmp_path, device="cpu")


def test_bad_device():
    with pytest.raises(InvalidInputError, match="device"):
        asr.resolve_device("tpu")


def test_ingest_reports_speech_recognition_when_it_runs(tmp_path, monkeypatch):
    """cues_for tells the progress callback the truth: speech recognition, not 'reading subtitles'."""
    from types import SimpleNamespace

    from vcval.ingest import prepare
    from vcval.types import Cue

    monkeypatch.setattr(asr, "transcribe", lambda media, model=None: [Cue(0, 0.0, 1.0, "hello")])
    seen: list[str] = []
    meta = SimpleNamespace(n_subtitle_streams=0, has_audio=True)
    cues, source, _ = prepare.cues_for(tmp_path / "talk.mp4", tmp_path / "media.mp4", meta, None,
                                       report=lambda f, d: seen.append(d))
    assert source == "asr" and [c.text for c in cues] == ["hello"]
    assert seen == [prepare.CUE_STAGES["asr"]]
    seen.clear()
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    prepare.cues_for(tmp_path / "talk.mp4", tmp_path / "media.mp4", meta, srt, report=lambda f, d: seen.append(d))
    assert seen == [prepare.CUE_STAGES["file"]]  # a subtitle file: no speech recognition announced
    seen.clear()
    silent = SimpleNamespace(n_subtitle_streams=0, has_audio=False)
    assert prepare.cues_for(tmp_path / "v.mp4", tmp_path / "m.mp4", silent, None,
                            report=lambda f, d: seen.append(d))[1] == "none"
    assert seen == [prepare.CUE_STAGES["none"]]
