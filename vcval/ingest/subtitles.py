"""Subtitle files (SRT, WebVTT, youtube-transcript JSON) -> clean, time-ordered :class:`Cue` lists.

Parsing uses the ``srt`` and ``webvtt-py`` libraries; this module adds decoding of odd
encodings, tag stripping, YouTube rolling-caption de-duplication and :func:`clean_cues`
(sort, drop noise, fix overlaps, clamp to the video length).
"""
from __future__ import annotations

import ast
import html
import json
import logging
import math
import os
import re
import uuid
from datetime import timedelta
from pathlib import Path

import srt
import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from vcval.errors import NotFoundError, SubtitleError
from vcval.types import Cue

logger = logging.getLogger(__name__)

FORMATS = ("srt", "vtt", "json")
MIN_CUE_SECONDS = 0.1
MAX_MEDIA_SECONDS = 7 * 24 * 3600.0
"""No cue time, transcript duration or clip time may exceed a week (refuses 1e300 and friends)."""

_SRT_TIMING_RE = re.compile(r"^\s*\d+:\d{1,2}:\d{1,2}[,.:]\d{1,3}\s*-->\s*\d+:\d{1,2}:\d{1,2}[,.:]\d{1,3}(\s.*)?$")
_VTT_TIMING_RE = re.compile(r"^\s*(\d+:)?\d{1,2}:\d{2}\.\d{3}\s*-->\s*(\d+:)?\d{1,2}:\d{2}\.\d{3}(\s.*)?$")

_TAG_RE = re.compile(r"</?[A-Za-z0-9_.:\-][^<>]*>")  # <i>, </b>, <c.colorE5E5E5>, <00:00:01.000>, <v Bob>
_ASS_RE = re.compile(r"\{\\[^{}]*\}")  # {\an8}, {\i1}
_INLINE_TS_RE = re.compile(r"<\d{1,2}:\d{2}(?::\d{2})?\.\d{3}>")
_NOISE_TAG_RE = re.compile(r"\[[^\[\]]{0,40}\]|[♪♫♬]+")  # [Music], [Applause], ♪
_PAREN_ONLY_RE = re.compile(r"^\(\s*[^()]{0,40}\)$")  # "(laughs)", "(music)"


def clean_text(text: str) -> str:
    """Strip HTML/VTT/ASS tags and entities, collapse whitespace to single spaces."""
    text = _ASS_RE.sub("", text.replace("\\N", " ").replace("\\n", " "))
    text = html.unescape(_TAG_RE.sub("", text))
    return " ".join(text.split())


def _decode(data: bytes, source: str) -> str:
    """Decode subtitle bytes: UTF-8 (BOM optional), UTF-16 with BOM, else cp1252/latin-1 (warned)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise SubtitleError(f"{source}: has a UTF-16 byte-order mark but is not valid UTF-16 ({e}); "
                                "re-save it as UTF-8") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for enc in ("cp1252", "latin-1"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        logger.warning("%s: not valid UTF-8; decoded as %s (re-save it as UTF-8 if characters look wrong)",
                       source, enc)
        return text
    # unreachable in practice: latin-1 decodes any byte string
    raise SubtitleError(f"{source}: cannot decode the text; re-save it as UTF-8")


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _split_cue_blocks(text: str, timing: re.Pattern[str], *, numbered: bool,
                      source: str) -> tuple[str, list[str]]:
    """Drop malformed cue blocks: ``(text of the well-formed blocks, one warning per dropped block)``.

    A block is a run of non-blank lines; a line with ``-->`` inside a block starts a new cue (with
    the cue number before it), so a cue missing its blank line is never merged into the previous
    one. A block whose timing line does not parse, or that has no timing line, is skipped with a
    warning naming its first line; the file's header block (WEBVTT, NOTE, STYLE) is kept as is.
    """
    lines = text.splitlines()
    blocks: list[tuple[int, list[str]]] = []  # (1-based first line, lines)
    cur: list[str] = []
    start = 0
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            if cur:
                blocks.append((start, cur))
            cur = []
            continue
        if "-->" in line and any("-->" in c for c in cur):  # a second timing line: a new cue starts here
            carry = [cur.pop()] if numbered and cur and cur[-1].strip().isdigit() else []
            if cur:
                blocks.append((start, cur))
            cur, start = carry, i - len(carry)
        if not cur:
            start = i
        cur.append(line)
    if cur:
        blocks.append((start, cur))
    kept: list[str] = []
    warnings: list[str] = []
    for n, (first, block) in enumerate(blocks):
        head = block[0].lstrip("\ufeff").strip()
        if n == 0 and not numbered and head.startswith("WEBVTT"):
            kept.append("\n".join(block))
            continue
        if not numbered and head.split(" ", 1)[0] in ("NOTE", "STYLE", "REGION"):
            kept.append("\n".join(block))
            continue
        k = 1 if numbered and head.isdigit() and len(block) > 1 else 0
        if not numbered and "-->" not in head and len(block) > 1:
            k = 1  # a WebVTT cue identifier line
        if timing.match(block[k]):
            kept.append("\n".join(block))
            continue
        bad = next((ln for ln in block if "->" in ln), block[k])
        where = first + block.index(bad)
        what = "malformed timestamp" if "->" in bad else "not a cue (no timing line)"
        warnings.append(f"line {where}: {what} {bad.strip()[:60]!r}; that cue was skipped")
        logger.warning("%s: %s", source, warnings[-1])
    return "\n\n".join(kept) + "\n", warnings


def _parse_srt(text: str, source: str) -> list[Cue]:
    cleaned, skipped = _split_cue_blocks(text, _SRT_TIMING_RE, numbered=True, source=source)
    if skipped and cleaned.strip():
        text = cleaned
    try:
        subs = list(srt.parse(text))
    except srt.SRTParseError as e:
        line = _line_of(text, e.expected_start)
        bad = [ln for ln in text[e.expected_start:].splitlines() if ln.strip()][:3]
        for k, ln in enumerate(text[e.expected_start:].splitlines()):
            if "-->" in ln:
                raise SubtitleError(f"{source}: line {line + k}: malformed timestamp {ln.strip()!r} "
                                    "(expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm')") from e
            if k > 3:
                break
        found = bad[0] if bad else ""
        raise SubtitleError(f"{source}: line {line}: expected a cue number and a 'HH:MM:SS,mmm --> HH:MM:SS,mmm' "
                            f"timestamp, found {found[:60]!r}; is this an SRT file?") from e
    except (srt.TimestampParseError, ValueError) as e:
        raise SubtitleError(f"{source}: bad timestamp ({e}); expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm'") from e
    return [Cue(i, s.start.total_seconds(), s.end.total_seconds(), clean_text(s.content)) for i, s in enumerate(subs)]


def _vtt_error_line(text: str, err: Exception) -> str:
    """Best-effort 'line N: ' prefix for a webvtt-py error whose message quotes the bad block."""
    msg = str(err)
    m = re.search(r"\[.*\]", msg, re.S)
    try:
        block = ast.literal_eval(m.group(0)) if m else None
    except (ValueError, SyntaxError):
        block = None
    if block:
        for i, ln in enumerate(text.splitlines(), start=1):
            if ln.strip() == str(block[0]).strip():
                return f"line {i}: "
    return ""


def _lenient_vtt(text: str) -> webvtt.WebVTT | None:
    """Non-strict webvtt-py parse, or None if it lost any cue timing line."""
    try:
        vtt = webvtt.from_string(text, strict=False)
    except (MalformedCaptionError, MalformedFileError, ValueError):
        return None
    n_timing = sum("-->" in ln for ln in text.splitlines())
    return vtt if len(vtt.captions) == n_timing else None


def _parse_vtt(text: str, source: str) -> list[Cue]:
    if not text.lstrip("\ufeff").startswith("WEBVTT"):
        first = text.lstrip("\ufeff").splitlines()[0][:40] if text.strip() else ""
        raise SubtitleError(f"{source}: line 1: expected the 'WEBVTT' header, found {first!r}; is this a WebVTT file?")
    cleaned, skipped = _split_cue_blocks(text, _VTT_TIMING_RE, numbered=False, source=source)
    if skipped and "-->" in cleaned:
        text = cleaned
    try:
        vtt = webvtt.from_string(text, strict=True)
    except (MalformedCaptionError, MalformedFileError, ValueError) as e:
        # Browsers also accept a cue that directly follows the previous one without a blank
        # line; accept the lenient parse when it still recovers every timing line.
        lenient = _lenient_vtt(text)
        if lenient is None:
            raise SubtitleError(f"{source}: {_vtt_error_line(text, e)}malformed cue ({str(e)[:120]}); expected "
                                "'HH:MM:SS.mmm --> HH:MM:SS.mmm' followed by the cue text") from e
        logger.warning("%s: %s(%s); parsed leniently", source, _vtt_error_line(text, e), str(e)[:120])
        vtt = lenient
    captions = list(vtt.captions)
    rolling = any(_INLINE_TS_RE.search(c.raw_text) for c in captions)
    cues: list[Cue] = []
    prev_lines: set[str] = set()
    for c in captions:
        lines = [clean_text(ln) for ln in c.text.split("\n")]
        lines = [ln for ln in lines if ln]
        if rolling:
            # YouTube auto-captions repeat the previous line above the new one and add 10 ms
            # "hold" cues that only repeat text: keep only the lines not shown just before.
            new = [ln for ln in lines if ln not in prev_lines]
            prev_lines = set(lines)
            if not new:
                continue
            lines = new
        start, end = c.start_time.in_milliseconds() / 1000.0, c.end_time.in_milliseconds() / 1000.0
        cues.append(Cue(len(cues), start, end, " ".join(lines)))
    return cues


def _num(item: dict, key: str, i: int, source: str) -> float:
    v = item.get(key)
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            v = None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
        raise SubtitleError(f"{source}: item {i}: {key!r} must be a non-negative number of seconds, "
                            f"got {item.get(key)!r}")
    if v > MAX_MEDIA_SECONDS:
        raise SubtitleError(f"{source}: item {i}: {key!r} is {v:g} s, more than a week; "
                            "times must be seconds from the start of the video")
    return float(v)


def _parse_json(text: str, source: str) -> list[Cue]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SubtitleError(f"{source}: line {e.lineno}: invalid JSON ({e.msg})") from e
    if not isinstance(data, list):
        raise SubtitleError(f"{source}: expected a JSON list of {{\"start\", \"duration\", \"text\"}} objects, "
                            f"found a {type(data).__name__}")
    cues = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or "start" not in item or "text" not in item:
            raise SubtitleError(f"{source}: item {i}: expected an object with 'start', 'duration' (or 'end') "
                                "and 'text'")
        start = _num(item, "start", i, source)
        if "duration" in item:
            end = start + _num(item, "duration", i, source)
        elif "end" in item:
            end = _num(item, "end", i, source)
        else:
            raise SubtitleError(f"{source}: item {i}: needs 'duration' or 'end'")
        cues.append(Cue(i, start, end, clean_text(str(item["text"]))))
    return cues


_PARSERS = {"srt": _parse_srt, "vtt": _parse_vtt, "json": _parse_json}


def parse_subtitle_text(text: str, fmt: str, *, source: str = "<subtitles>") -> list[Cue]:
    """Parse subtitle ``text`` in format ``fmt`` ("srt" | "vtt" | "json") into cues in file order.

    Cue text has tags stripped and whitespace collapsed; call :func:`clean_cues` next.
    Raises SubtitleError (naming ``source``) for malformed or empty input.
    """
    fmt = fmt.lower().lstrip(".")
    if fmt not in _PARSERS:
        raise SubtitleError(f"{source}: unsupported subtitle format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not text.strip("\ufeff \t\r\n"):
        raise SubtitleError(f"{source}: the subtitle file is empty")
    cues = _PARSERS[fmt](text, source)
    late = next((c for c in cues if c.end > MAX_MEDIA_SECONDS or c.start > MAX_MEDIA_SECONDS), None)
    if late is not None:
        raise SubtitleError(f"{source}: cue {late.index + 1} ends at {late.end:g} s, more than a week; "
                            "times must be from the start of the video")
    if not cues:
        raise SubtitleError(f"{source}: no subtitle cues found; check that it is a valid .{fmt} file")
    if not any(c.text for c in cues):
        raise SubtitleError(f"{source}: all {len(cues)} cues have empty text")
    return cues


def parse_subtitles(path: str | os.PathLike) -> list[Cue]:
    """Parse a .srt, .vtt or .json subtitle file into cues (see :func:`parse_subtitle_text`).

    Raises NotFoundError if the file is missing, SubtitleError if it is malformed, empty,
    or has an unsupported extension.
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if not p.is_file():
        raise NotFoundError(f"{p}: subtitle file not found; check the path")
    if fmt not in _PARSERS:
        raise SubtitleError(f"{p.name}: unsupported subtitle format {p.suffix!r}; convert it to .srt or .vtt")
    data = p.read_bytes()
    if not data.strip(b"\xef\xbb\xbf\xff\xfe \t\r\n\x00"):
        raise SubtitleError(f"{p.name}: the subtitle file is empty")
    return parse_subtitle_text(_decode(data, p.name), fmt, source=p.name)


def _strip_noise(text: str) -> str:
    text = " ".join(_NOISE_TAG_RE.sub(" ", text).split())
    if _PAREN_ONLY_RE.match(text):
        return ""
    return text if any(ch.isalnum() for ch in text) else ""


def clean_cues(cues: list[Cue], duration: float | None = None) -> tuple[list[Cue], list[str]]:
    """Tidy cues for indexing; returns (cues reindexed 0..n-1, human-readable warnings).

    Sorts by start; drops empty, exact-duplicate and noise-only cues ("[Music]", "♪",
    "(laughs)") and strips inline "[Music]" tags; trims overlapping cues (YouTube
    auto-captions) so end <= next start while keeping >= 0.1 s; gives cues whose end is
    not after their start 0.1 s; drops cues starting at/after ``duration`` and clamps ends
    past it.
    """
    warnings: list[str] = []
    items = sorted(cues, key=lambda c: (c.start, c.end))
    n_empty = n_noise = n_dup = n_overlap = n_bad_time = n_past = n_clamped = 0
    kept: list[list] = []  # [start, end, text]
    seen: set[tuple[float, float, str]] = set()
    for c in items:
        text = clean_text(c.text)
        if not text:
            n_empty += 1
            continue
        text = _strip_noise(text)
        if not text:
            n_noise += 1
            continue
        key = (round(c.start, 3), round(c.end, 3), text)
        if key in seen:
            n_dup += 1
            continue
        seen.add(key)
        start, end = max(0.0, float(c.start)), float(c.end)
        if end <= start:
            n_bad_time += 1
            end = start + MIN_CUE_SECONDS
        kept.append([start, end, text])
    if duration is not None:
        inside = [k for k in kept if k[0] < duration]
        n_past = len(kept) - len(inside)
        kept = inside
        for k in kept:
            if k[1] > duration:
                n_clamped += 1
                k[1] = float(duration)
    for cur, nxt in zip(kept, kept[1:]):
        if cur[1] > nxt[0]:
            n_overlap += 1
            cur[1] = max(nxt[0], cur[0] + MIN_CUE_SECONDS)
    if n_empty:
        warnings.append(f"{n_empty} empty cues were dropped")
    if n_noise:
        warnings.append(f"{n_noise} noise-only cues (like [Music]) were dropped")
    if n_dup:
        warnings.append(f"{n_dup} duplicate cues were dropped")
    if n_bad_time:
        warnings.append(f"{n_bad_time} cues ended before they started and were given {MIN_CUE_SECONDS} s")
    if n_overlap:
        warnings.append(f"{n_overlap} overlapping cues were shortened to end where the next one starts")
    if n_past:
        warnings.append(f"{n_past} cues past the video end ({duration:.1f} s) were dropped")
    if n_clamped:
        warnings.append(f"{n_clamped} cues running past the video end ({duration:.1f} s) were cut at the end")
    out = [Cue(i, round(s, 3), round(e, 3), t) for i, (s, e, t) in enumerate(kept)]
    return out, warnings


_SIDECAR_RE = re.compile(r"^(?:\.en(?:[-_][A-Za-z0-9]+)*)?\.(srt|vtt)$", re.I)


def find_sidecar(video_path: str | os.PathLike) -> Path | None:
    """The subtitle file next to a video: ``<stem>.srt``, ``<stem>.en.srt``, ``<stem>.vtt``,
    ``<stem>.en.vtt`` (in that order; extensions case-insensitive, ``.en-US`` style variants
    last), or None.
    """
    v = Path(video_path)
    if not v.parent.is_dir():
        return None
    stem = v.stem
    found: list[tuple[int, str, Path]] = []
    order = {".srt": 0, ".en.srt": 1, ".vtt": 2, ".en.vtt": 3}
    for p in v.parent.iterdir():
        if not p.name.startswith(stem) or not p.is_file():
            continue
        tail = p.name[len(stem):]
        if _SIDECAR_RE.match(tail):
            found.append((order.get(tail.lower(), 4), p.name, p))
    return min(found)[2] if found else None


def _td(seconds: float) -> timedelta:
    return timedelta(seconds=max(0.0, float(seconds)))


def write_srt(cues: list[Cue], path: str | os.PathLike) -> None:
    """Write cues as a UTF-8 SRT file (atomically: temp file, then rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    subs = [srt.Subtitle(index=i + 1, start=_td(c.start), end=_td(max(c.end, c.start)), content=c.text or " ")
            for i, c in enumerate(cues)]
    tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex[:12]}.part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(srt.compose(subs, reindex=False))
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
