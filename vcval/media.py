"""Media helpers on the ffmpeg binary bundled with ``imageio-ffmpeg``.

There is no ffprobe: :func:`probe` parses the stream summary that ``ffmpeg -i`` prints to
stderr. Every writer (``normalize``, ``trim``, ``extract_audio``) writes to a temporary
name in the destination folder and ``os.replace``-s it, so a failure never leaves a
partial output file behind.
"""
from __future__ import annotations

import functools
import logging
import math
import os
import re
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vcval.errors import InvalidInputError, InvalidMediaError, StorageError

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike

_DURATION_RE = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #\d+:\d+.*?:\s*(Video|Audio|Subtitle|Data|Attachment):\s*([^\s,]+)(.*)$")
_SIZE_RE = re.compile(r"\b(\d{1,5})x(\d{1,5})\b")
_TAIL_SECONDS = 2.0
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"}


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a media file.

    ``duration`` is in seconds; ``width``/``height`` describe the first video stream;
    the codec fields hold ffmpeg codec names ("h264", "aac", "mov_text", ...).
    """

    duration: float
    has_video: bool
    has_audio: bool
    n_subtitle_streams: int
    width: int
    height: int
    video_codec: str = ""
    audio_codec: str = ""
    subtitle_codecs: tuple[str, ...] = ()


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (``imageio_ffmpeg.get_ffmpeg_exe()``)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


@functools.cache
def h264_encoder() -> str:
    """The H.264 encoder to use: ``libx264`` when the bundled ffmpeg has it, else ``libopenh264``.

    Raises InvalidMediaError when ffmpeg has neither (browser-playable output is impossible).
    """
    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    names = {line.split()[1] for line in out.splitlines() if len(line.split()) > 1 and line.startswith(" V")}
    for name in ("libx264", "libopenh264"):
        if name in names:
            return name
    raise InvalidMediaError(
        f"the ffmpeg binary at {ffmpeg_exe()} has no H.264 encoder (libx264/libopenh264); "
        "install an imageio-ffmpeg build that includes libx264"
    )


def _run(cmd: Sequence[str], what: str, path: Path) -> subprocess.CompletedProcess:
    """Run ffmpeg; raise InvalidMediaError carrying the tail of stderr if it fails."""
    proc = subprocess.run(list(cmd), capture_output=True)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-6:]
        if any("No space left on device" in line or "Disk quota exceeded" in line for line in tail):
            raise StorageError(f"no space left on the disk while ffmpeg wrote the output for {path.name}; "
                               "nothing was added: free some space and retry")
        raise InvalidMediaError(
            f"ffmpeg could not {what} {path}: " + " | ".join(tail)
            + " — check that the file is a complete, playable video"
        )
    return proc


def _check_file(path: StrPath) -> Path:
    p = Path(path)
    if not p.exists():
        raise InvalidMediaError(f"{p}: file not found; check the path")
    if not p.is_file():
        raise InvalidMediaError(f"{p}: not a regular file; give the path of a video file")
    if p.stat().st_size == 0:
        raise InvalidMediaError(f"{p}: the file is empty (0 bytes); re-download or re-export the video")
    return p


def _tmp_for(dst: Path) -> Path:
    """A hidden temporary sibling of ``dst`` with the same suffix (so ffmpeg picks the muxer)."""
    return dst.with_name(f".{dst.stem}.{uuid.uuid4().hex[:12]}.part{dst.suffix or '.mp4'}")


def _run_atomic(args: Sequence[str], dst: StrPath, src: Path, what: str, fmt: str) -> None:
    """Run ``ffmpeg ... args <tmp>`` and move the result onto ``dst``; remove the temp on failure."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_for(dst)
    try:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-y", "-loglevel", "error", *args, "-f", fmt, str(tmp)]
        _run(cmd, what, src)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _parse_header(text: str) -> dict:
    """Parse the ``ffmpeg -i`` stream summary into duration, stream kinds, codecs and size."""
    info: dict = {"duration": None, "video": [], "audio": [], "subtitle": [], "width": 0, "height": 0}
    m = _DURATION_RE.search(text)
    if m:
        h, mi, s = m.groups()
        info["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)
    for line in text.splitlines():
        sm = _STREAM_RE.match(line)
        if not sm:
            continue
        kind, codec, rest = sm.group(1).lower(), sm.group(2), sm.group(3)
        if kind == "video":
            if "(attached pic)" in rest:  # cover art of an audio file is not a video
                continue
            if not info["video"]:
                size = _SIZE_RE.search(rest)
                if size:
                    info["width"], info["height"] = int(size.group(1)), int(size.group(2))
            info["video"].append(codec)
        elif kind in ("audio", "subtitle"):
            info[kind].append(codec)
    return info


def _tail_decodes(path: Path, duration: float) -> bool:
    """True if the last ~2 s of the file decode to at least one frame or audio sample.

    A truncated file (e.g. an interrupted download whose index survived) reports its full
    duration but nothing decodes near its end.
    """
    tail = min(_TAIL_SECONDS, duration)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-sseof", f"-{tail:.3f}", "-i", str(path),
           "-map", "0:v?", "-map", "0:a?", "-f", "null", "-progress", "pipe:1", "-nostats", "-"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    frames = re.findall(r"^frame=(\d+)", proc.stdout, re.M)
    out_time = re.findall(r"^out_time_us=(\d+)", proc.stdout, re.M)
    return bool((frames and int(frames[-1]) > 0) or (out_time and int(out_time[-1]) > 0))


def _open_failure_hint(path: Path, ffmpeg_log: str) -> str:
    """Explain why ffmpeg could not open ``path``: not a video, or a truncated mp4."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head[4:8] in _ISO_BOXES and "moov atom not found" in ffmpeg_log:
        return "the mp4 index ('moov' atom) is missing: the file is truncated or corrupt, e.g. an interrupted download"
    if b"\0" not in head:
        try:
            head.decode("utf-8")
            return "it looks like a text file, not a video"
        except UnicodeDecodeError:
            pass
    last = [ln.strip() for ln in ffmpeg_log.strip().splitlines() if ln.strip()][-1:] or ["unknown error"]
    return f"not a format ffmpeg can read: {last[0]}"


def probe(path: StrPath) -> MediaInfo:
    """Inspect a video file; raise InvalidMediaError if it is not a complete, readable video.

    Checks: the file exists and is non-empty, ffmpeg can open it, it has a video stream, and
    its last seconds decode (catches truncated files whose index is intact).
    """
    p = _check_file(path)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)], capture_output=True)
    text = proc.stderr.decode("utf-8", "replace")
    if "Input #0" not in text:
        raise InvalidMediaError(f"{p}: cannot open as a video ({_open_failure_hint(p, text)}); "
                                "check that it is a complete video file (mp4, mkv, webm, mov, ...)")
    info = _parse_header(text)
    if not info["video"]:
        raise InvalidMediaError(f"{p}: has no video stream; give a video file (audio-only files are not supported)")
    container = re.search(r"Input #0, ([\w,]+?),? from", text)
    formats = container.group(1).split(",") if container else []
    if formats and all(f.endswith("_pipe") or f == "image2" for f in formats):
        raise InvalidMediaError(f"{p}: is a still image ({info['video'][0]}), not a video; give a video file")
    duration = info["duration"]
    if duration is None or duration <= 0:
        import imageio_ffmpeg

        try:
            _, duration = imageio_ffmpeg.count_frames_and_secs(str(p))
        except RuntimeError as e:
            raise InvalidMediaError(f"{p}: could not determine the duration ({e}); re-encode the video") from e
        if not duration or duration <= 0:
            raise InvalidMediaError(f"{p}: the video has no frames; re-export it")
    if not _tail_decodes(p, duration):
        raise InvalidMediaError(
            f"{p}: the end of the file cannot be decoded, it is probably truncated (an interrupted download "
            "or copy); download or copy it again"
        )
    return MediaInfo(
        duration=float(duration),
        has_video=True,
        has_audio=bool(info["audio"]),
        n_subtitle_streams=len(info["subtitle"]),
        width=info["width"],
        height=info["height"],
        video_codec=info["video"][0],
        audio_codec=info["audio"][0] if info["audio"] else "",
        subtitle_codecs=tuple(info["subtitle"]),
    )


def _h264_args(preset: str, crf: int) -> list[str]:
    enc = h264_encoder()
    if enc == "libx264":
        return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    return ["-c:v", enc, "-b:v", "2M", "-pix_fmt", "yuv420p"]


def normalize(src: StrPath, dst: StrPath, *, max_height: int | None = None, preset: str = "veryfast",
              crf: int = 23) -> None:
    """Transcode ``src`` to a browser-playable mp4 at ``dst``: H.264 (yuv420p, even size) + AAC.

    The first video and first audio stream are kept (no audio stream if the source has
    none); subtitle streams are dropped (read them first with :func:`extract_subtitle_track`).
    ``max_height`` optionally downscales taller videos. Raises InvalidMediaError.
    """
    src_p = _check_file(src)
    info = probe(src_p)
    scale = "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    if max_height is not None and info.height > max_height:
        scale = f"scale=-2:{int(max_height) // 2 * 2}"
    # A keyframe every second lets trim() stream-copy answer clips (fast) and still start
    # within a second of the asked time (an mp4 edit list makes players start exactly there).
    args = ["-i", str(src_p), "-map", "0:v:0", "-vf", f"{scale},setsar=1", *_h264_args(preset, crf),
            "-force_key_frames", "expr:gte(t,n_forced*1)"]
    if info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"]
    args += ["-sn", "-dn", "-map_metadata", "-1", "-movflags", "+faststart"]
    _run_atomic(args, dst, src_p, "transcode", "mp4")


def trim(src: StrPath, dst: StrPath, start: float, end: float, *, accurate: bool = True,
         preset: str = "ultrafast", crf: int = 23) -> None:
    """Cut the span [start, end] seconds of ``src`` into an H.264/AAC mp4 at ``dst``.

    ``accurate=True`` re-encodes (frame-accurate; the x264 ``preset`` sets the speed:
    "ultrafast" cuts a 60 s span of 480p video in ~3 s on 2 busy CPU cores, "veryfast" in
    ~5-7 s). ``accurate=False`` stream-copies an H.264/AAC source (~0.05 s): the file starts
    at the keyframe before ``start`` and an mp4 edit list tells players to begin at ``start``;
    the end may run a few frames (up to ~0.5 s) long.
    ``end`` past the video end is clamped. Raises InvalidInputError for an empty/negative
    span and InvalidMediaError if ffmpeg fails.
    """
    src_p = _check_file(src)
    info = probe(src_p)
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
        raise InvalidInputError(f"invalid clip span [{start}, {end}] s: need 0 <= start < end")
    if start >= info.duration:
        raise InvalidInputError(f"clip start {start:.2f} s is past the end of {src_p.name} ({info.duration:.2f} s)")
    end = min(end, info.duration)
    # -ss before -i seeks to the keyframe before `start`; when re-encoding, ffmpeg decodes and
    # drops the frames up to `start`, so the cut is frame-accurate. -t counts from `start`.
    args = ["-ss", f"{start:.3f}", "-i", str(src_p), "-t", f"{end - start:.3f}", "-map", "0:v:0"]
    copy = not accurate and info.video_codec == "h264" and info.audio_codec in ("", "aac")
    if copy:
        args += ["-c:v", "copy"]
    else:
        args += ["-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2", *_h264_args(preset, crf)]
    if info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "copy" if copy else "aac"] + ([] if copy else ["-b:a", "128k"])
    args += ["-sn", "-dn", "-movflags", "+faststart"]
    _run_atomic(args, dst, src_p, "cut a clip from", "mp4")


def _frame_cmd(path: Path, vf: str, first_only: bool) -> list[str]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0:v:0", "-vf", vf]
    if first_only:
        cmd += ["-frames:v", "1"]
    return cmd + ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]


def iter_frames(path: StrPath, fps: float = 1.0, size: int = 224, *, chunk: int = 64) -> Iterator[np.ndarray]:
    """Yield RGB frames sampled at ``fps`` in chunks of (<= chunk, size, size, 3) uint8.

    Frames are resized to cover size x size and center-cropped; frame t is the frame shown
    at time t / fps. Yields at least one frame for any non-empty video (a clip shorter than
    one sampling period gives its first frame). Memory stays bounded by ``chunk`` frames.
    """
    p = _check_file(path)
    if not (fps > 0 and size > 0):
        raise InvalidInputError(f"fps and size must be positive (got fps={fps}, size={size})")
    crop = f"scale={size}:{size}:force_original_aspect_ratio=increase,crop={size}:{size}"
    frame_bytes = size * size * 3
    n_yielded, err = 0, ""
    for vf, first_only in ((f"fps={fps}:round=up,{crop}", False), (crop, True)):
        with subprocess.Popen(_frame_cmd(p, vf, first_only), stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            while True:
                buf = proc.stdout.read(frame_bytes * chunk)
                n = len(buf) // frame_bytes
                if n:
                    n_yielded += n
                    yield np.frombuffer(buf[: n * frame_bytes], dtype=np.uint8).reshape(n, size, size, 3)
                if len(buf) < frame_bytes * chunk:
                    break
            err = proc.stderr.read().decode("utf-8", "replace")
        if n_yielded:
            if proc.returncode != 0:
                logger.warning("%s: ffmpeg stopped early while reading frames: %s", p, err.strip()[-300:])
            return
    tail = " | ".join(err.strip().splitlines()[-4:]) or "no frames"
    raise InvalidMediaError(f"{p}: could not decode any frame ({tail}); check that the file is a playable video")


def read_frames(path: StrPath, fps: float = 1.0, size: int = 224) -> np.ndarray:
    """Frames sampled at ``fps``: (T, size, size, 3) uint8 RGB, T ~= ceil(duration * fps), T >= 1."""
    return np.concatenate(list(iter_frames(path, fps=fps, size=size)), axis=0)


def extract_audio(path: StrPath, dst_wav: StrPath, sample_rate: int = 16000) -> None:
    """Write the first audio stream of ``path`` as mono 16-bit PCM wav at ``sample_rate`` Hz.

    Raises InvalidMediaError if the file has no audio stream or cannot be decoded.
    """
    p = _check_file(path)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)], capture_output=True)
    header = _parse_header(proc.stderr.decode("utf-8", "replace"))
    if not header["audio"]:
        raise InvalidMediaError(f"{p}: has no audio track, so there is no speech to transcribe; "
                                "add subtitles (a .srt/.vtt next to the video) instead")
    args = ["-i", str(p), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(int(sample_rate)), "-c:a", "pcm_s16le"]
    _run_atomic(args, dst_wav, p, "extract the audio of", "wav")


def extract_subtitle_track(path: StrPath) -> str | None:
    """The first embedded text subtitle stream of ``path`` as SRT text, or None if there is none.

    Image-based subtitles (DVD/Blu-ray bitmaps) cannot be turned into text: a warning is
    logged and None returned.
    """
    p = _check_file(path)
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(p)], capture_output=True)
    header = _parse_header(proc.stderr.decode("utf-8", "replace"))
    if not header["subtitle"]:
        return None
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(p), "-map", "0:s:0",
           "-c:s", "srt", "-f", "srt", "pipe:1"]
    out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0:
        tail = out.stderr.decode("utf-8", "replace").strip().splitlines()[-2:]
        logger.warning("%s: embedded subtitle track (%s) could not be converted to text: %s",
                       p, header["subtitle"][0], " | ".join(tail))
        return None
    text = out.stdout.decode("utf-8", "replace")
    return text if text.strip() else None
