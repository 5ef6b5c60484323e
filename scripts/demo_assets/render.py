"""Rendering of the demo corpus: espeak-ng narration, cue timing, slides + narration muxed into
H.264/AAC mp4 by the bundled ffmpeg, and the .srt / catalog.json / questions.json files."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from vcval.ingest.subtitles import write_srt
from vcval.media import ffmpeg_exe, h264_encoder
from vcval.types import Cue

from .content import CATALOG_META, CLOSING_BODY, CLOSING_HEADING, VIDEOS, Video, closing_picture, intro_icon
from .drawing import render_slide

log = logging.getLogger(__name__)

# ----------------------------------------------------------------------------- settings
VOICE = "en-us"
SPEED_WPM = 150
SAMPLE_RATE = 22050  # espeak-ng native rate
LEAD_S = 0.6  # silence before the first cue
TAIL_S = 1.4  # silence after the last cue
PAUSE_CHUNK_S = 0.15  # between the parts of a split sentence
PAUSE_SENTENCE_S = 0.45  # between sentences of one step
PAUSE_SEGMENT_S = 1.0  # between steps (slides)
MAX_CUE_CHARS = 84  # longer sentences are split at commas into several cues
SILENCE_THRESHOLD = 200  # int16 amplitude below which espeak output counts as silence
TRIM_MARGIN_S = 0.02
FPS = 10


# ----------------------------------------------------------------------------- narration
@dataclass
class Segment:
    """The narration of one slide: ``kind`` is "intro" | "step" | "closing"; cues in seconds."""

    kind: str
    step_no: int
    cues: list[Cue] = field(default_factory=list)

    @property
    def start(self) -> float:
        """Start of the first cue (seconds)."""
        return self.cues[0].start

    @property
    def end(self) -> float:
        """End of the last cue (seconds)."""
        return self.cues[-1].end


def split_sentence(sentence: str, max_chars: int = MAX_CUE_CHARS) -> list[str]:
    """Split a long sentence at clause boundaries (', ' / '; ') into chunks of <= max_chars where possible."""
    if len(sentence) <= max_chars:
        return [sentence]
    clauses = re.split(r"(?<=[,;])\s+", sentence)
    chunks: list[str] = []
    cur = ""
    for c in clauses:
        if cur and len(cur) + 1 + len(c) > max_chars:
            chunks.append(cur)
            cur = c
        else:
            cur = f"{cur} {c}".strip()
    if cur:
        chunks.append(cur)
    # avoid a tiny dangling last chunk
    if len(chunks) > 1 and len(chunks[-1]) < 18:
        tail = chunks.pop()
        chunks[-1] = f"{chunks[-1]} {tail}"
    return chunks


def speak(text: str, tmp: Path) -> np.ndarray:
    """Narrate ``text`` with espeak-ng; returns int16 samples (N,) at SAMPLE_RATE, silence trimmed."""
    wav = tmp / "speech.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(SPEED_WPM), "-w", str(wav), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with wave.open(str(wav)) as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise RuntimeError(f"unexpected espeak-ng wav format for {text!r}")
        x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    loud = np.flatnonzero(np.abs(x.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        raise RuntimeError(f"espeak-ng produced silence for {text!r}")
    m = int(TRIM_MARGIN_S * SAMPLE_RATE)
    return x[max(0, loud[0] - m): loud[-1] + 1 + m]


def narrate(video: Video, tmp: Path) -> tuple[np.ndarray, list[Segment]]:
    """Build the whole narration track (N,) int16 and the timed segments (cue times in seconds)."""
    parts: list[np.ndarray] = []
    n = 0

    def silence(sec: float) -> None:
        nonlocal n
        k = int(round(sec * SAMPLE_RATE))
        parts.append(np.zeros(k, dtype=np.int16))
        n += k

    plan: list[tuple[str, int, tuple[str, ...]]] = [("intro", 0, video.intro)]
    plan += [("step", i + 1, s.sentences) for i, s in enumerate(video.steps)]
    plan += [("closing", 0, video.closing)]
    segments: list[Segment] = []
    n_cues = 0
    silence(LEAD_S)
    for si, (kind, no, sentences) in enumerate(plan):
        if si:
            silence(PAUSE_SEGMENT_S)
        seg = Segment(kind, no)
        for ki, sentence in enumerate(sentences):
            if ki:
                silence(PAUSE_SENTENCE_S)
            for ci, chunk in enumerate(split_sentence(sentence)):
                if ci:
                    silence(PAUSE_CHUNK_S)
                audio = speak(chunk, tmp)
                start = n / SAMPLE_RATE
                parts.append(audio)
                n += audio.size
                seg.cues.append(Cue(n_cues, round(start, 3), round(n / SAMPLE_RATE, 3), chunk))
                n_cues += 1
        segments.append(seg)
    silence(TAIL_S)
    return np.concatenate(parts), segments


def write_wav(audio: np.ndarray, path: Path) -> Path:
    """Write int16 mono samples at SAMPLE_RATE as a .wav file; returns ``path``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(audio.tobytes())
    return path


def write_subtitles(segments: Sequence[Segment], path: Path, tmp: Path) -> int:
    """Write every cue to ``path`` as SRT with vcval's writer; returns the number of cues.

    ``write_srt`` (``srt.compose``) ends the file with an empty line after the last cue; the committed
    assets end right after the last cue's text, so that one trailing newline is dropped.
    """
    cues = [c for seg in segments for c in seg.cues]
    staged = tmp / path.name
    write_srt(cues, staged)
    text = staged.read_text(encoding="utf-8")
    if text.endswith("\n\n"):
        text = text[:-1]
    path.write_text(text, encoding="utf-8")
    return len(cues)


# ----------------------------------------------------------------------------- video
def slide_bounds(segments: Sequence[Segment], total: float) -> list[float]:
    """Slide change times: halfway through the pause before each segment's narration, plus 0 and ``total``."""
    bounds = [0.0]
    for a, b in zip(segments, segments[1:]):
        bounds.append((a.end + b.start) / 2)
    bounds.append(total)
    return bounds


def draw_segment(video: Video, seg: Segment) -> Image.Image:
    """The slide image shown during ``seg``."""
    if seg.kind == "intro":
        return render_slide(video, "intro", 0, video.title, video.description, intro_icon(video.slug))
    if seg.kind == "closing":
        return render_slide(video, "closing", 0, CLOSING_HEADING, CLOSING_BODY, closing_picture)
    step = video.steps[seg.step_no - 1]
    return render_slide(video, "step", seg.step_no, step.heading, "", step.draw)


def write_slides(video: Video, segments: Sequence[Segment], total: float, tmp: Path,
                 keep_slides: Path | None = None) -> Path:
    """Save one PNG per segment in ``tmp`` and an ffmpeg concat list timing them; returns the list's path."""
    bounds = slide_bounds(segments, total)
    concat = []
    for i, seg in enumerate(segments):
        png = tmp / f"slide_{i:02d}.png"
        draw_segment(video, seg).save(png)
        if keep_slides is not None:
            keep_slides.mkdir(parents=True, exist_ok=True)
            shutil.copy(png, keep_slides / f"{video.slug}_{i:02d}.png")
        concat.append(f"file '{png}'\nduration {bounds[i + 1] - bounds[i]:.3f}\n")
    concat.append(f"file '{tmp / f'slide_{len(segments) - 1:02d}.png'}'\n")
    slides_txt = tmp / "slides.txt"
    slides_txt.write_text("".join(concat))
    return slides_txt


def mux(slides_txt: Path, wav_path: Path, total: float, mp4: Path) -> None:
    """Encode the slide list + narration into a bit-exact H.264/AAC mp4 of ``total`` seconds."""
    encoder = h264_encoder()
    if encoder != "libx264":  # the x264 options below (and the committed assets) need libx264
        raise RuntimeError(f"the bundled ffmpeg ({ffmpeg_exe()}) has {encoder}, not libx264")
    cmd = [ffmpeg_exe(), "-y", "-loglevel", "error",
           "-f", "concat", "-safe", "0", "-i", str(slides_txt), "-i", str(wav_path),
           "-map", "0:v", "-map", "1:a", "-vf", f"fps={FPS},format=yuv420p",
           "-c:v", encoder, "-preset", "medium", "-tune", "stillimage", "-crf", "26", "-g", str(FPS * 5),
           "-c:a", "aac", "-b:a", "48k", "-ac", "1", "-ar", "44100",
           "-t", f"{total:.3f}", "-map_metadata", "-1",
           # bit-exact, deterministic output: no version strings, interleaving strictly by timestamp
           "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-max_interleave_delta", "0",
           "-movflags", "+faststart", str(mp4)]
    subprocess.run(cmd, check=True)


def render_video(video: Video, out_dir: Path, keep_slides: Path | None = None) -> dict:
    """Render one video (+ .srt); returns its catalog entry with per-step times."""
    with tempfile.TemporaryDirectory(prefix=f"demo-{video.slug}-") as td:
        tmp = Path(td)
        audio, segments = narrate(video, tmp)
        total = audio.size / SAMPLE_RATE
        wav_path = write_wav(audio, tmp / "narration.wav")
        slides_txt = write_slides(video, segments, total, tmp, keep_slides)
        mp4 = out_dir / f"{video.slug}.mp4"
        mux(slides_txt, wav_path, total, mp4)
        n_cues = write_subtitles(segments, out_dir / f"{video.slug}.srt", tmp)
    steps = [{"step": s.step_no, "heading": video.steps[s.step_no - 1].heading,
              "start": round(s.start, 2), "end": round(s.end, 2)} for s in segments if s.kind == "step"]
    log.info("%s: %.1f s, %d cues, %d steps", video.slug, total, n_cues, len(steps))
    return {"slug": video.slug, "title": video.title, "description": video.description,
            "duration": round(total, 2), "video": mp4.name, "subtitles": f"{video.slug}.srt",
            "n_cues": n_cues, "steps": steps}


# ----------------------------------------------------------------------------- corpus
def questions_for(video: Video, entry: dict) -> list[dict]:
    """The video's example questions with the answer span (seconds) from its step timings."""
    out = []
    for q in video.questions:
        a, b = q.steps
        first, last = entry["steps"][a - 1], entry["steps"][b - 1]
        out.append({"question": q.question, "slug": video.slug, "title": video.title,
                    "steps": [a, b], "answer_start": first["start"], "answer_end": last["end"]})
    return out


def _old_catalog(out: Path) -> dict[str, dict]:
    """Entries of an existing ``catalog.json`` in ``out`` by slug (empty when there is none)."""
    if not (out / "catalog.json").exists():
        return {}
    return {e["slug"]: e for e in json.loads((out / "catalog.json").read_text())["videos"]}


def build_corpus(out: Path, only: Sequence[str] | None = None, keep_slides: Path | None = None) -> None:
    """Render the videos (all, or ``only`` these slugs) into ``out`` and write catalog.json + questions.json.

    With ``only``, the other videos keep their existing files and catalog entries.
    """
    out.mkdir(parents=True, exist_ok=True)
    slugs = [v.slug for v in VIDEOS]
    assert len(set(slugs)) == len(slugs)
    old = _old_catalog(out)
    catalog, questions = [], []
    for v in VIDEOS:
        if only and v.slug not in only and v.slug in old:
            entry = old[v.slug]
        else:
            entry = render_video(v, out, keep_slides)
        catalog.append(entry)
        questions += questions_for(v, entry)
    meta = {**CATALOG_META, "voice": f"espeak-ng {VOICE} {SPEED_WPM} wpm"}
    (out / "catalog.json").write_text(json.dumps({**meta, "videos": catalog}, indent=1) + "\n", encoding="utf-8")
    (out / "questions.json").write_text(json.dumps(questions, indent=1) + "\n", encoding="utf-8")
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    log.info("wrote %d videos, %d questions to %s (%.2f MB)", len(catalog), len(questions), out, size / 1e6)
