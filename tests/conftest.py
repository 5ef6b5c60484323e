"""Shared fixtures: offline environment and synthetic videos made by the tests themselves."""
from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# the app's runtime does not depend on whether this machine's cache holds an ONNX export (`vcval export`);
# tests/test_runtime.py covers the ONNX runtime, the app on it included, with exports of its own
os.environ.setdefault("VCVAL_RUNTIME", "torch")

import subprocess
from pathlib import Path

import pytest


def _ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def make_video(
    path: Path,
    seconds: float = 6.0,
    *,
    audio: bool = True,
    color_source: str = "testsrc2",
    size: str = "160x120",
    fps: int = 10,
    codec: str = "mpeg4",
    srt_text: str | None = None,
    embed_srt: bool = False,
) -> Path:
    """Render a small synthetic video with ffmpeg (lavfi test pattern + sine tone)."""
    path = Path(path)
    cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", f"{color_source}=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    srt_path = None
    if embed_srt and srt_text is not None:
        srt_path = path.with_suffix(".embed.srt")
        srt_path.write_text(srt_text, encoding="utf-8")
        cmd += ["-i", str(srt_path)]
    cmd += ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if audio:
        cmd += ["-c:a", "aac", "-shortest"]
    if srt_path is not None:
        cmd += ["-c:s", "mov_text" if path.suffix == ".mp4" else "srt"]
    cmd += [str(path)]
    subprocess.run(cmd, check=True)
    if srt_path is not None:
        srt_path.unlink()
    if srt_text is not None and not embed_srt:
        path.with_suffix(".srt").write_text(srt_text, encoding="utf-8")
    return path


SAMPLE_SRT = """1
00:00:00,000 --> 00:00:02,000
First, wash your hands with soap and water.

2
00:00:02,000 --> 00:00:04,000
Next, place the sling under the injured arm.

3
00:00:04,000 --> 00:00:06,000
Finally, tie the sling behind the neck.
"""


@pytest.fixture
def video_factory(tmp_path):
    """Call ``video_factory(name, **make_video_kwargs)`` to get a synthetic video path."""

    def _make(name: str = "clip.mp4", **kwargs) -> Path:
        return make_video(tmp_path / name, **kwargs)

    return _make


@pytest.fixture
def sample_srt() -> str:
    return SAMPLE_SRT
