"""Tests for vcval.media: probe, normalize, trim, frames, audio, embedded subtitles."""
from __future__ import annotations

import subprocess
import wave

import numpy as np
import pytest

from vcval import media
from vcval.errors import InvalidInputError, InvalidMediaError


def _ffmpeg_streams(path) -> str:
    """The stream lines `ffmpeg -i` prints (independent of media.probe's parser)."""
    err = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    return "\n".join(line for line in err.splitlines() if "Stream #" in line)


@pytest.fixture
def clip(video_factory):
    return video_factory("clip.mp4", seconds=6.0)


# ---------------------------------------------------------------- probe


def test_probe_reads_duration_streams_and_size(clip):
    info = media.probe(clip)
    assert info.duration == pytest.approx(6.0, abs=0.1)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (160, 120)
    assert info.n_subtitle_streams == 0
    assert (info.video_codec, info.audio_codec) == ("mpeg4", "aac")


def test_probe_video_without_audio(video_factory):
    info = media.probe(video_factory("silent.mp4", seconds=2.0, audio=False))
    assert info.has_video and not info.has_audio


def test_probe_counts_embedded_subtitles(video_factory, sample_srt):
    path = video_factory("subs.mkv", seconds=6.0, srt_text=sample_srt, embed_srt=True)
    assert media.probe(path).n_subtitle_streams == 1


def test_probe_missing_file(tmp_path):
    with pytest.raises(InvalidMediaError, match="nope.mp4.*not found"):
        media.probe(tmp_path / "nope.mp4")


def test_probe_zero_length(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(InvalidMediaError, match="empty.mp4.*empty"):
        media.probe(p)


def test_probe_text_file_renamed_mp4(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is a shopping list, not a video\n")
    with pytest.raises(InvalidMediaError, match="notes.mp4.*text file"):
        media.probe(p)


def test_probe_truncated_mp4_without_index(clip, tmp_path):
    data = clip.read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: int(len(data) * 0.3)])  # the index (moov) is at the end: lost
    with pytest.raises(InvalidMediaError, match="cut.mp4.*truncated"):
        media.probe(p)


def test_probe_truncated_faststart_mp4(clip, tmp_path):
    full = tmp_path / "full.mp4"
    media.normalize(clip, full)  # faststart: the index survives truncation
    data = full.read_bytes()
    p = tmp_path / "partial.mp4"
    p.write_bytes(data[: int(len(data) * 0.3)])
    with pytest.raises(InvalidMediaError, match="partial.mp4.*truncated"):
        media.probe(p)


def test_probe_audio_only_file_has_no_video(clip, tmp_path):
    wav = tmp_path / "speech.wav"
    media.extract_audio(clip, wav)
    with pytest.raises(InvalidMediaError, match="no video stream"):
        media.probe(wav)


# ---------------------------------------------------------------- normalize


def test_normalize_makes_h264_aac_faststart_even_size(video_factory, tmp_path):
    src = video_factory("odd.avi", seconds=3.0, size="161x121")
    dst = tmp_path / "out" / "norm.mp4"
    media.normalize(src, dst)
    streams = _ffmpeg_streams(dst)
    assert "Video: h264" in streams and "yuv420p" in streams
    assert "Audio: aac" in streams
    info = media.probe(dst)
    assert info.width % 2 == 0 and info.height % 2 == 0
    assert info.duration == pytest.approx(3.0, abs=0.2)
    head = dst.read_bytes()
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # +faststart: index before the media data
    assert [p.name for p in dst.parent.iterdir()] == ["norm.mp4"]  # no temp files left


def test_normalize_without_audio_has_no_audio_stream(video_factory, tmp_path):
    dst = tmp_path / "norm.mp4"
    media.normalize(video_factory("silent.mp4", seconds=2.0, audio=False), dst)
    streams = _ffmpeg_streams(dst)
    assert "Video: h264" in streams and "Audio:" not in streams


def test_normalize_invalid_source_leaves_no_output(tmp_path):
    src = tmp_path / "bad.mp4"
    src.write_text("not a video")
    dst = tmp_path / "out.mp4"
    with pytest.raises(InvalidMediaError, match="bad.mp4"):
        media.normalize(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mp4"]


def test_normalize_ffmpeg_failure_reports_stderr_and_is_atomic(clip, tmp_path, monkeypatch):
    monkeypatch.setattr(media, "_h264_args", lambda preset, crf: ["-c:v", "no_such_encoder"])
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous version")
    with pytest.raises(InvalidMediaError, match="no_such_encoder|Unknown encoder"):
        media.normalize(clip, dst)
    assert dst.read_bytes() == b"previous version"
    assert not list(tmp_path.glob(".*part*"))


def test_h264_encoder_is_libx264():
    assert media.h264_encoder() == "libx264"


# ---------------------------------------------------------------- trim


def test_trim_duration_and_codecs(clip, tmp_path):
    dst = tmp_path / "clip_1_4.mp4"
    media.trim(clip, dst, 1.0, 4.5)
    info = media.probe(dst)
    assert info.duration == pytest.approx(3.5, abs=0.2)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")


def test_trim_is_frame_accurate(video_factory, tmp_path):
    # the frame counter of testsrc2 is not readable here, so compare the first frame of the
    # clip with the frame at `start` of the source instead
    src = video_factory("src.mp4", seconds=6.0, fps=10, codec="libx264")
    dst = tmp_path / "cut.mp4"
    media.trim(src, dst, 2.3, 3.3)
    first = media.read_frames(dst, fps=10, size=64)[0].astype(int)
    ref = media.read_frames(src, fps=10, size=64).astype(int)
    errors = [np.abs(first - f).mean() for f in ref]
    assert int(np.argmin(errors)) == 23


def test_trim_stream_copy_mode(clip, tmp_path):
    norm = tmp_path / "norm.mp4"
    media.normalize(clip, norm)
    dst = tmp_path / "copy.mp4"
    media.trim(norm, dst, 1.0, 4.0, accurate=False)
    info = media.probe(dst)
    assert info.video_codec == "h264"
    assert info.duration == pytest.approx(3.0, abs=0.5)  # copy mode: the end may run a few frames long


def test_trim_clamps_end_and_rejects_bad_spans(clip, tmp_path):
    dst = tmp_path / "tail.mp4"
    media.trim(clip, dst, 5.0, 60.0)
    assert media.probe(dst).duration == pytest.approx(1.0, abs=0.2)
    for start, end in [(3.0, 2.0), (-1.0, 2.0), (7.0, 9.0)]:
        with pytest.raises(InvalidInputError):
            media.trim(clip, tmp_path / "x.mp4", start, end)
    assert not (tmp_path / "x.mp4").exists()


# ---------------------------------------------------------------- frames, audio, subtitles


def test_read_frames_shape_and_dtype(clip):
    frames = media.read_frames(clip)
    assert frames.shape == (6, 224, 224, 3) and frames.dtype == np.uint8
    assert media.read_frames(clip, fps=2.0, size=64).shape == (12, 64, 64, 3)
    assert frames.std() > 10  # real picture content, not a blank buffer


def test_read_frames_short_clip_gives_one_frame(video_factory):
    frames = media.read_frames(video_factory("short.mp4", seconds=0.3, audio=False), fps=1.0, size=32)
    assert frames.shape == (1, 32, 32, 3)


def test_read_frames_invalid_file(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"\x00" * 100)
    with pytest.raises(InvalidMediaError):
        media.read_frames(p)


def test_extract_audio_mono_16k(clip, tmp_path):
    wav = tmp_path / "a.wav"
    media.extract_audio(clip, wav)
    with wave.open(str(wav)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (1, 16000, 2)
        assert w.getnframes() / 16000 == pytest.approx(6.0, abs=0.1)


def test_extract_audio_without_audio_track(video_factory, tmp_path):
    with pytest.raises(InvalidMediaError, match="no audio"):
        media.extract_audio(video_factory("silent.mp4", seconds=1.0, audio=False), tmp_path / "a.wav")
    assert not (tmp_path / "a.wav").exists()


@pytest.mark.parametrize("name", ["subs.mkv", "subs.mp4"])
def test_extract_subtitle_track(video_factory, sample_srt, name):
    path = video_factory(name, seconds=6.0, srt_text=sample_srt, embed_srt=True)
    text = media.extract_subtitle_track(path)
    assert text is not None
    assert "wash your hands" in text and "-->" in text


def test_extract_subtitle_track_none(clip):
    assert media.extract_subtitle_track(clip) is None
