"""vcval Gradio app: ask a question, watch the answer inside its video with the subtitles highlighted.

    python app.py                      # (the repository's Space entry point) the embedded demo corpus
    vcval serve --corpus mine/         # the same UI over your own corpus
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 python -m vcval.app

Open ``http://host:port/?q=How+do+I+stop+a+nosebleed%3F`` to ask a question on page load.

The UI is thin over the library: ``build_demo(pipeline)`` wires a :class:`vcval.pipeline.VCVAL`
into a ``gr.Blocks``. The page (title, intro, banner, example questions) comes from the corpus's
``app.json`` (:class:`PageConfig`; none: a generic page). Public endpoints (``gradio_client``):
``/ask``, ``/feedback``, ``/list_videos``, and when adding is on ``/add_video``, ``/add_url``,
``/remove_video``. Public mode (``VCVAL_PUBLIC=1``, :class:`AppSettings`) asks for the admin token
``VCVAL_ADMIN_TOKEN`` to change the corpus (no token set: adding is off), limits upload size
and questions per client, and cleans Gradio's cache. The module-level ``demo`` (for Hugging
Face Spaces and ``gradio app.py``) is built on first access only.
"""
from __future__ import annotations

import contextlib
import functools
import hmac
import html
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from vcval.errors import DuplicateVideoError, VCVALError
from vcval.types import Answer, Cue

if TYPE_CHECKING:
    from vcval.pipeline import VCVAL

logger = logging.getLogger("vcval.app")

TOP_K = 5
CONTEXT_CUES = 5  # subtitles shown before/after the answer span
PAGE_FILE = "app.json"  # the page config in a corpus directory
GENERIC_ERROR = "Something went wrong on the server; the details are in its log. Please try again."
GENERIC_TITLE = "vcval · find the answer inside videos"
GENERIC_INTRO = ("Ask a question in plain language: vcval finds the video and the stretch of it that answers, "
                 "opens the video there and highlights the subtitles that answer it.")
NO_CONFIDENT = ("**No confident answer in this corpus.** The closest matches are shown below; they may not "
                "answer the question. Try other words, or add videos on this topic.")
CORPUS_HEADERS = ["id", "title", "duration", "subtitles", "source", "channel / author", "uploaded", "licence",
                  "added"]
ADDING_OFF = "Adding videos is turned off on this server."

CSS = """
#vcval-header h1 {font-size: 1.45rem; margin: 0 0 2px 0}
#vcval-header p {margin: 0; color: var(--body-text-color-subdued)}
.vcval-banner {background:#fff4e5; border:1px solid #f0b35b; border-radius:8px; padding:6px 12px; color:#6b4100;
               font-size:14px; margin-top:6px}
#vcval-answers .wrap label {white-space: normal; width: 100%}
#vcval-subs .vcval-cue {cursor: pointer; margin: 2px 0; line-height: 1.45; border-radius: 4px; padding: 1px 4px}
#vcval-subs .vcval-cue:hover {background: rgba(31, 95, 122, .10)}
#vcval-subs .vcval-t {font-family: monospace; color: #1f5f7a; margin-right: 8px}
#vcval-subs mark {background: #ffe066; padding: 1px 3px; border-radius: 3px; color: #222}
#vcval-subs mark.vcval-key {background: #ffc53d; font-weight: 600}
.vcval-timeline {position: relative; height: 8px; background: #e3e8ec; border-radius: 4px; margin: 4px 0 8px 0}
.vcval-timeline span {position: absolute; top: 0; height: 8px; background: #f0a500; border-radius: 4px}
@media (max-width: 640px) {
  #vcval-header p {display: none}
  .vcval-banner {font-size: 12.5px; padding: 4px 8px}
  #vcval-ask-row {flex-wrap: nowrap !important; gap: 6px}
  #vcval-ask-row button {min-width: 64px !important}
}
"""

# Clicking a cue of the subtitle panel seeks the full-video player (switching to its tab first).
SEEK_JS = """
element.addEventListener('click', (event) => {
  const cue = event.target.closest('[data-t]');
  if (!cue) return;
  const t = parseFloat(cue.dataset.t);
  const tab = document.querySelector('#vcval-players button[role="tab"]');
  if (tab && tab.getAttribute('aria-selected') !== 'true') tab.click();
  const seek = (tries) => {
    const v = document.querySelector('#vcval-full video');
    if (!v) { if (tries > 0) setTimeout(() => seek(tries - 1), 100); return; }
    v.currentTime = t;
    v.play().catch(() => {});
  };
  seek(20);
});
"""


# After the full video is set: open it at the answer's lead-in (the subtitle panel carries where).
# Polls for a few seconds, so a player that swaps its source late is still put in place.
OPEN_AT_JS = """
() => {
  const marker = document.querySelector('#vcval-subs [data-start]');
  if (!marker) return;
  const start = parseFloat(marker.dataset.start), key = marker.dataset.key;
  let tries = 0;
  const go = () => {
    const v = document.querySelector('#vcval-full video');
    if (v && v.readyState >= 1 && v.currentSrc && v.dataset.vcvalKey !== key + '|' + v.currentSrc) {
      v.currentTime = start;
      v.dataset.vcvalKey = key + '|' + v.currentSrc;
    }
    if (tries++ < 80) setTimeout(go, 100);
  };
  go();
}
"""


# --------------------------------------------------------------------------- settings
def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _env_number(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        logger.warning("ignoring %s=%r (not a number)", name, raw)
        return default
    return value if value > 0 else None


@dataclass(frozen=True)
class AppSettings:
    """Server policy. ``public``: a server anyone can reach (a Space).

    In public mode changing the corpus (add, remove) needs ``admin_token`` (none set: off),
    uploads are capped at ``max_upload_mb``, each client may ask ``ask_per_minute`` questions
    (a token bucket, burst of the same size) and Gradio's cache is cleaned hourly. Outside
    public mode the corpus's owner runs the server: no token, no limits.
    """

    public: bool = False
    admin_token: str | None = None
    max_upload_mb: float | None = None
    ask_per_minute: float | None = None
    queue_size: int = 64
    ingest_queue_size: int = 4

    @classmethod
    def from_env(cls) -> AppSettings:
        """``VCVAL_PUBLIC``, ``VCVAL_ADMIN_TOKEN``, ``VCVAL_MAX_UPLOAD_MB`` (public default 200),
        ``VCVAL_ASK_PER_MINUTE`` (public default 20), ``VCVAL_QUEUE_SIZE`` (default 64)."""
        public = _env_flag("VCVAL_PUBLIC")
        token = os.environ.get("VCVAL_ADMIN_TOKEN", "").strip() or None
        return cls(public=public, admin_token=token,
                   max_upload_mb=_env_number("VCVAL_MAX_UPLOAD_MB", 200.0 if public else None),
                   ask_per_minute=_env_number("VCVAL_ASK_PER_MINUTE", 20.0 if public else None),
                   queue_size=int(_env_number("VCVAL_QUEUE_SIZE", 64) or 64))

    @property
    def can_change(self) -> bool:
        """True when the corpus can be changed from the web (local server, or public with a token set)."""
        return not self.public or self.admin_token is not None

    def check_admin(self, token: str | None) -> None:
        """Raise gr.Error unless this request may change the corpus."""
        if not self.can_change:
            raise gr.Error(ADDING_OFF, print_exception=False)
        if self.public and not hmac.compare_digest((token or "").strip().encode(), (self.admin_token or "").encode()):
            raise gr.Error("Wrong or missing admin token: only the server's admins can change this corpus.",
                           print_exception=False)


class RateLimiter:
    """Per-client token bucket: ``per_minute`` requests a minute, bursts up to ``burst``. In memory, thread-safe."""

    def __init__(self, per_minute: float, burst: float | None = None, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1.0, per_minute))
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Take one token from ``key``'s bucket; False when it is empty."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            ok = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
            while len(self._buckets) > self.max_clients:  # forget the least recently seen client
                self._buckets.popitem(last=False)
        return ok

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` has a token again."""
        with self._lock:
            tokens, _ = self._buckets.get(key, (self.burst, 0.0))
        return max(0.0, (1.0 - tokens) / self.rate) if self.rate > 0 else float("inf")


def client_key(request: gr.Request | None, *, behind_proxy: bool) -> str:
    """The client's address: behind a proxy (a Space) the last ``X-Forwarded-For`` hop, the one the proxy added."""
    if request is None:
        return "local"
    if behind_proxy:
        headers = getattr(request, "headers", None) or {}
        forwarded = headers.get("x-forwarded-for") if hasattr(headers, "get") else None
        if forwarded:
            return forwarded.split(",")[-1].strip()
    client = getattr(request, "client", None)
    return str(getattr(client, "host", None) or "unknown")


# --------------------------------------------------------------------------- page config
@dataclass(frozen=True)
class PageConfig:
    """Title, intro, banner and example questions of the page; read from a corpus's ``app.json``.

    ``app.json``: ``{"title": str, "intro": str, "banner": str, "examples": [str, ...],
    "examples_file": "questions.json"}``, every key optional; ``examples_file`` (relative to
    the config) is a JSON list of strings or of records with a ``question``. No file: the
    generic page (no banner, no examples).
    """

    title: str = GENERIC_TITLE
    intro: str = GENERIC_INTRO
    banner: str | None = None
    examples: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def load(cls, directory: str | os.PathLike | None) -> PageConfig:
        """The page of ``directory/app.json``; the generic page when it is missing or unreadable (logged)."""
        if directory is None:
            return cls()
        path = Path(directory) / PAGE_FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            unknown = set(data) - {"title", "intro", "banner", "examples", "examples_file"}
            if unknown:
                logger.warning("%s: ignoring unknown keys %s", path, ", ".join(sorted(unknown)))
            examples = [str(q) for q in data.get("examples") or []]
            if data.get("examples_file"):
                rows = json.loads((path.parent / str(data["examples_file"])).read_text(encoding="utf-8"))
                examples += [str(r["question"] if isinstance(r, dict) else r) for r in rows]
            return cls(title=str(data.get("title") or GENERIC_TITLE), intro=str(data.get("intro") or ""),
                       banner=str(data["banner"]) if data.get("banner") else None,
                       examples=tuple(dict.fromkeys(q.strip() for q in examples if q.strip())))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("%s is not a valid page config (%s); using the generic page", path, exc)
            return cls()

    @classmethod
    def demo(cls) -> PageConfig:
        """The embedded demo corpus's page (``assets/demo/app.json``)."""
        from vcval.config import demo_assets_dir

        return cls.load(demo_assets_dir())

    def header_html(self) -> str:
        """Title, one-line intro and the banner as HTML (banner: **bold** allowed, everything else escaped)."""
        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.intro:
            parts.append(f"<p>{html.escape(self.intro)}</p>")
        if self.banner:
            banner = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(self.banner))
            parts.append(f'<div class="vcval-banner" role="note">{banner}</div>')
        return "".join(parts)


# --------------------------------------------------------------------------- formatting
def fmt_time(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) for a time in seconds."""
    s = int(round(max(0.0, float(seconds))))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_span(start: float, end: float) -> str:
    """``mm:ss–mm:ss``."""
    return f"{fmt_time(start)}\u2013{fmt_time(end)}"


def parse_span(text: str | None) -> tuple[float, float] | None:
    """``"1:05-1:30"`` / ``"65-90"`` -> (65.0, 90.0); None for an empty text. Raises gr.Error when unreadable."""
    if not text or not text.strip():
        return None
    parts = re.split(r"\s*(?:-|\u2013|to)\s*", text.strip())
    try:
        if len(parts) != 2:
            raise ValueError
        times = []
        for p in parts:
            secs = 0.0
            for unit in p.split(":"):
                secs = secs * 60 + float(unit)
            times.append(secs)
    except ValueError:
        raise gr.Error(f"Could not read the span {text!r}: write it as 1:05-1:30.", print_exception=False) from None
    return times[0], times[1]


def confidence_title(answer: Answer) -> str:
    """The numbers behind the label, for a hover tooltip."""
    if answer.confidence is None:
        return f"retrieval score {float(answer.score):.4f} (this method is not calibrated)"
    video = ("" if answer.video_confidence is None else
             f"; right video {float(answer.video_confidence):.4f} (estimated chance that the video is the right one)")
    return (f"calibrated confidence {float(answer.confidence):.4f} (estimated chance that this is the right video "
            f"and span){video}; score {float(answer.score):.4f}")


def answer_choice(answer: Answer, rank: int) -> str:
    """One line of the answer list (wraps on phones, nothing cut)."""
    return f"{rank}. {answer.title} \u00b7 {fmt_span(answer.start, answer.end)} \u00b7 {answer.confidence_label()}"


def _hit_indices(cues: Sequence[Cue], answer: Answer) -> set[int]:
    hit = {c.index for c in answer.cues}
    if not hit:  # localizers that return no cue list: the cues overlapping the span
        hit = {c.index for c in cues if c.end > answer.start and c.start < answer.end}
    return hit


def subtitles_html(cues: Sequence[Cue], answer: Answer, context: int = CONTEXT_CUES,
                   duration: float | None = None, open_at: float | None = None) -> str:
    """The video's cues around the answer, one per line with its time in the full video; answer cues in <mark>,
    those of the answer's key sentence (when the method names one) in a bolder ``<mark class="vcval-key">``.

    Each cue carries ``data-t`` (its start, s): clicking it seeks the full-video player. With
    ``duration``, a bar marks where the answer lies in the video; ``open_at`` (s) is where the
    full-video player opens (read by ``OPEN_AT_JS``).
    """
    head = ""
    attrs = ""
    if open_at is not None:
        key = html.escape(f"{answer.video_id}:{answer.start:.3f}:{answer.end:.3f}")
        attrs = f' data-start="{open_at:.3f}" data-key="{key}"'
    if (duration and duration > 0) or attrs:
        head = (f'<div style="font-size:13px"{attrs}>Answer at <b>{fmt_span(answer.start, answer.end)}</b>'
                + (f" of {fmt_time(duration)}" if duration else "") + "</div>")
    if duration and duration > 0:
        left = 100 * max(0.0, answer.start) / duration
        width = max(0.8, 100 * (answer.end - answer.start) / duration)
        head += (f'<div class="vcval-timeline" title="where the answer is in the video">'
                 f'<span style="left:{left:.2f}%;width:{min(width, 100 - left):.2f}%"></span></div>')
    if not cues:
        return head + "<p><i>This video has no subtitles.</i></p>"
    hit = _hit_indices(cues, answer)
    pos = [i for i, c in enumerate(cues) if c.index in hit] or [0]
    lo, hi = max(0, min(pos) - context), min(len(cues), max(pos) + context + 1)
    rows = []
    if lo:
        rows.append(f'<div style="color:#888;font-size:13px">&hellip; {lo} earlier cue{"s" * (lo != 1)}</div>')
    for c in cues[lo:hi]:
        text = html.escape(c.text)
        if c.index in hit and answer.is_key_cue(c):
            text = f'<mark class="vcval-key" title="the sentence closest to the question">{text}</mark>'
        elif c.index in hit:
            text = f"<mark>{text}</mark>"
        rows.append(f'<div class="vcval-cue" data-t="{c.start:.3f}" title="play from {fmt_time(c.start)}">'
                    f'<span class="vcval-t">{fmt_time(c.start)}</span>{text}</div>')
    if hi < len(cues):
        n = len(cues) - hi
        rows.append(f'<div style="color:#888;font-size:13px">&hellip; {n} later cue{"s" * (n != 1)}</div>')
    return head + '<div style="max-height:380px;overflow-y:auto;padding:2px 4px">' + "".join(rows) + "</div>"


# --------------------------------------------------------------------------- messages for web users
def _upload_dirs() -> tuple[str, ...]:
    """Where Gradio keeps uploads (``$GRADIO_TEMP_DIR``, default ``<tmp>/gradio``), as given and resolved."""
    base = os.environ.get("GRADIO_TEMP_DIR") or str(Path(tempfile.gettempdir()) / "gradio")
    return tuple({base.rstrip("/") + "/", str(Path(base).resolve()) + "/"})


_TEMP_DIRS = _upload_dirs()
_CLI_CLAUSE = re.compile(r"[;,]?\s*[^;,:()]*(?:`vcval [^`]*`|VCVAL_[A-Z_]+=\S+)[^;,()]*(?=[;,.()]|$)")
_PATH_RE = re.compile(r"(?:/[\w.@+-]+)+/([\w.@+ -]+)")


def web_message(text: str, *, hide: Sequence[str | os.PathLike] = ()) -> str:
    """A library message made fit for a web user: no command-line hints, no server paths.

    ``hide``: paths (corpus root, uploaded files) replaced by their last component.
    """
    for p in sorted((str(h) for h in hide if h), key=len, reverse=True):
        text = text.replace(p, Path(p).name)
    text = _CLI_CLAUSE.sub("", text)
    text = _PATH_RE.sub(lambda m: m.group(1) if m.group(0).startswith(_TEMP_DIRS) else m.group(0), text)
    text = re.sub(r"\s+\(\s*\)", "", text).strip().rstrip(":;,")
    return text[:1].upper() + text[1:] if text else GENERIC_ERROR


def _is_upload(source: str) -> bool:
    return source.startswith(_TEMP_DIRS)


@contextlib.contextmanager
def _web_errors(name: str) -> Iterator[None]:
    """Turn a VCVALError into its web message and anything else into a logged, generic message."""
    try:
        yield
    except gr.Error:
        raise
    except VCVALError as exc:
        logger.info("%s: %s", name, exc)
        raise gr.Error(web_message(str(exc)), print_exception=False) from None
    except Exception:
        logger.exception("unexpected error in %s", name)
        raise gr.Error(GENERIC_ERROR, print_exception=False) from None


def _guard(fn: Callable) -> Callable:
    """Show VCVALError messages to the user; log anything else and show a short generic message."""

    if _is_generator(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _web_errors(fn.__name__):
                yield from fn(*args, **kwargs)

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _web_errors(fn.__name__):
            return fn(*args, **kwargs)

    return wrapper


def _is_generator(fn: Callable) -> bool:
    import inspect

    return inspect.isgeneratorfunction(getattr(fn, "__func__", fn))


# --------------------------------------------------------------------------- handlers
class DemoHandlers:
    """The app's actions over one pipeline (shared by all users; per-user data is in gr.State)."""

    def __init__(self, pipeline: VCVAL, k: int = TOP_K, settings: AppSettings | None = None) -> None:
        self.pipeline = pipeline
        self.k = k
        self.settings = settings or AppSettings()
        self.root = Path(str(getattr(pipeline.corpus, "root", "corpus")))
        self.limiter = (RateLimiter(self.settings.ask_per_minute) if self.settings.ask_per_minute else None)
        self._feedback: Any = None

    # ---------------------------------------------------------------- helpers
    def _limit(self, request: gr.Request | None) -> None:
        if self.limiter is None:
            return
        key = client_key(request, behind_proxy=self.settings.public)
        if not self.limiter.allow(key):
            wait = self.limiter.retry_after(key)
            raise gr.Error(f"Too many questions from your address; try again in {max(1, round(wait))} s.",
                           print_exception=False)

    def _message(self, exc: BaseException, *uploads: str | None) -> str:
        return web_message(str(exc), hide=[str(self.root), *[u for u in uploads if u]])

    def _clip_for(self, answer: Answer) -> str | None:
        if self.pipeline.corpus.media_file(answer.video_id) is None:
            return None
        return str(self.pipeline.clip(answer))

    def _duration(self, video_id: str) -> float | None:
        try:
            return float(self.pipeline.corpus.get(video_id).duration)
        except (VCVALError, AttributeError):
            return None

    # ---------------------------------------------------------------- ask / show
    def render(self, answer: Answer, rank: int) -> tuple[str, Any, Any, str]:
        """(info markdown, clip video update, clip download update, subtitles html) for one answer."""
        clip = self._clip_for(answer)
        cues = self.pipeline.corpus.cues(answer.video_id)
        label = answer.confidence_label()
        kind = "closest match, not a confident answer" if answer.confident is False else "confidence"
        if answer.confidence is None:
            kind = "uncalibrated"
        info = (f"### {rank}. {answer.title}\n"
                f"**{fmt_span(answer.start, answer.end)}** in the video \u00b7 "
                f'<span title="{html.escape(confidence_title(answer))}">{kind}: {label}</span>'
                f" \u00b7 video `{answer.video_id}`")
        media = self.pipeline.corpus.media_file(answer.video_id)
        subs = subtitles_html(cues, answer, duration=self._duration(answer.video_id),
                              open_at=self.pipeline.clip_start(answer) if media is not None else None)
        if clip is None:
            info += "\n\n*Transcript-only record: there is no video to play; read the subtitles.*"
            return info, gr.Video(value=None), gr.DownloadButton(value=None, visible=False), subs
        t0 = self.pipeline.clip_start(answer)  # the clip starts a few seconds before the answer (lead-in)
        span_cues = [{"text": c.text, "timestamp": [max(0.0, c.start - t0), max(0.0, c.end - t0)]}
                     for c in cues if c.end > t0 and c.start < answer.end]
        return (info, gr.Video(value=clip, subtitles=span_cues or None),
                gr.DownloadButton(value=clip, visible=True), subs)

    def full_video(self, answer: Answer | dict | None) -> Any:
        """The full video, opening at the answer's lead-in, with all its subtitles (None: nothing to play)."""
        if not answer:
            return gr.Video(value=None)
        if isinstance(answer, dict):
            answer = Answer.from_dict(answer)
        media = self.pipeline.corpus.media_file(answer.video_id)
        if media is None:
            return gr.Video(value=None)
        cues = self.pipeline.corpus.cues(answer.video_id)
        subs = [{"text": c.text, "timestamp": [c.start, c.end]} for c in cues]
        return gr.Video(value=str(media), subtitles=subs or None,
                        playback_position=float(self.pipeline.clip_start(answer)))

    def ask(self, question: str, request: gr.Request | None = None, progress: gr.Progress = gr.Progress()):
        """Answer ``question``: (info, clip, clip download, subtitles, answer list, JSON, state)."""
        self._limit(request)
        progress(0.1, desc="searching the corpus")
        answers = self.pipeline.ask(question, k=self.k)
        if not answers:
            gr.Warning("No answer found: try other words, or add videos on this topic to the corpus.")
            return ("*No answer found. Try other words, or add videos on this topic.*", gr.Video(value=None),
                    gr.DownloadButton(value=None, visible=False), "", gr.Radio(choices=[], value=None), [],
                    {"question": question, "answers": [], "shown": None})
        progress(0.7, desc="cutting the clip")
        info, clip, download, subs = self.render(answers[0], 1)
        unsure = all(a.confident is False for a in answers)
        if unsure:
            info = NO_CONFIDENT + "\n\n" + info
        choices = [(answer_choice(a, i + 1), str(i + 1)) for i, a in enumerate(answers)]
        label = ("Closest matches (not confident answers): select one to show it" if unsure
                 else "Top answers: select one to show it")
        data = [a.to_dict() for a in answers]
        state = {"question": question.strip(), "answers": data, "shown": 0}
        return info, clip, download, subs, gr.Radio(choices=choices, value="1", label=label), data, state

    def ask_from_url(self, request: gr.Request, progress: gr.Progress = gr.Progress()):
        """On page load, ask the question given as ``?q=...`` in the URL (shareable links)."""
        params = getattr(request, "query_params", None) or {}
        q = (params.get("q") or "").strip()
        if not q:
            return tuple(gr.skip() for _ in range(8))
        return (q, *self.ask(q, request, progress))

    def select(self, state: dict, choice: str | None):
        """Show the chosen answer of the list: (info, clip, download, subtitles, state)."""
        answers = (state or {}).get("answers") or []
        if not answers or not choice:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        row = min(max(int(choice) - 1, 0), len(answers) - 1)
        answer = Answer.from_dict(answers[row])
        info, clip, download, subs = self.render(answer, row + 1)
        if all(a.get("confident") is False for a in answers):
            info = NO_CONFIDENT + "\n\n" + info
        return info, clip, download, subs, {**state, "shown": row}

    def full_video_for(self, state: dict):
        """The full-video player for the answer shown now."""
        answers = (state or {}).get("answers") or []
        shown = (state or {}).get("shown")
        return self.full_video(answers[shown] if answers and shown is not None else None)

    def clip_for(self, state: dict):
        """(clip video, download) for the answer shown now (a tab mounted late gets its value again)."""
        answers = (state or {}).get("answers") or []
        shown = (state or {}).get("shown")
        if not answers or shown is None:
            return gr.skip(), gr.skip()
        _, clip, download, _ = self.render(Answer.from_dict(answers[shown]), shown + 1)
        return clip, download

    # ---------------------------------------------------------------- feedback
    @property
    def feedback_store(self) -> Any:
        if self._feedback is None:
            from vcval.corpus.feedback import FeedbackStore

            self._feedback = FeedbackStore(self.root)
        return self._feedback

    def feedback(self, question: str, video_id: str, start: float, end: float, vote: str,
                 right_span: str | None = None, request: gr.Request | None = None) -> str:
        """Store a vote ("up" or "down", optionally the right span "1:05-1:30") on one answer; returns a message."""
        self._limit(request)
        rating = {"up": 1, "down": -1}.get(str(vote).strip().lower())
        if rating is None:
            raise gr.Error("vote must be 'up' or 'down'", print_exception=False)
        if not isinstance(video_id, str) or video_id not in self.pipeline.corpus:
            raise gr.Error("That answer's video is not in this corpus.", print_exception=False)
        span = parse_span(right_span)
        self.feedback_store.record(question, video_id, start, end, rating,
                                   right_start=span[0] if span else None, right_end=span[1] if span else None)
        thanks = "Thanks: marked as a right answer." if rating > 0 else "Thanks: marked as a wrong answer."
        return thanks + (f" Right span noted: {fmt_span(*span)}." if span else "")

    def vote(self, state: dict, vote: str, right_span: str | None, request: gr.Request | None = None) -> str:
        """The thumbs buttons: a vote on the answer shown now."""
        answers = (state or {}).get("answers") or []
        shown = (state or {}).get("shown")
        if not answers or shown is None:
            return "Ask a question first, then rate the answer shown."
        a = answers[shown]
        return self.feedback(state["question"], a["video_id"], a["start"], a["end"], vote, right_span, request)

    # ---------------------------------------------------------------- corpus
    def _source(self, rec: Any, info: dict[str, Any]) -> str:
        src = str(rec.source)
        if info.get("source_kind") == "url" or re.match(r"^https?://", src):
            return src
        name = str(info.get("original_name") or Path(src).name)
        if _is_upload(src):
            return f"upload: {name}"
        return f"file: {name}" if self.settings.public else src

    def list_videos(self, query: str | None = None) -> list[list[Any]]:
        """One row per video with its provenance, filtered by ``query`` (words found in any column)."""
        rows = []
        for rec in self.pipeline.corpus:
            try:
                info = self.pipeline.corpus.info(rec.video_id)
            except (VCVALError, AttributeError, TypeError):
                info = {}
            raw = info.get("download")
            dl: dict[str, Any] = raw if isinstance(raw, dict) else {}
            channel = dl.get("channel") or dl.get("uploader") or dl.get("creator") or ""
            date = str(dl.get("upload_date") or "")
            if re.fullmatch(r"\d{8}", date):
                date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
            added = str(getattr(rec, "added_at", "") or "")[:16].replace("T", " ")
            rows.append([rec.video_id, rec.title, fmt_time(rec.duration), rec.subtitle_source,
                         self._source(rec, info), str(channel), date, str(dl.get("license") or ""), added])
        words = (query or "").lower().split()
        if words:
            rows = [r for r in rows if all(w in " ".join(map(str, r)).lower() for w in words)]
        return rows

    def remove_video(self, video_id: str, admin_token: str | None = None, query: str | None = None):
        """Remove a video (admins only in public mode); returns (message, corpus table)."""
        self.settings.check_admin(admin_token)
        video_id = (video_id or "").strip()
        if not video_id:
            return "Type the id of the video to remove (see the table).", self.list_videos(query)
        try:
            rec = self.pipeline.corpus.remove(video_id)
        except VCVALError as exc:
            return f"\u274c {self._message(exc)}", self.list_videos(query)
        return f"\U0001f5d1\ufe0f Removed {rec.title} ({rec.video_id}).", self.list_videos(query)

    # ---------------------------------------------------------------- ingest
    def _added(self, record: Any) -> str:
        warn = ""
        try:
            notes = self.pipeline.corpus.warnings(record.video_id)
            warn = "".join(f"\n\u26a0\ufe0f {self._message(VCVALError(w))}" for w in notes)
        except (VCVALError, AttributeError):
            pass
        return (f"\u2705 Added {record.title} as {record.video_id} "
                f"({fmt_time(record.duration)}, {record.n_cues} cue{'s' * (record.n_cues != 1)} from "
                f"{record.subtitle_source}).{warn}")

    def _ingest(self, work: Callable[[Callable[..., None]], Any], uploads: Sequence[str | None] = (),
                first: str = "Starting") -> Iterator[tuple[str, Any]]:
        """Run ``work(progress)`` in a thread; yield (status, corpus table) with its stage and % as it goes
        (the stage names come from the ingest itself, e.g. which source the subtitles really come from)."""
        events: queue.Queue[tuple[float, str]] = queue.Queue()
        result: dict[str, Any] = {}

        def progress(fraction: float, desc: str | None = None, **_: Any) -> None:
            events.put((float(fraction or 0.0), desc or "working"))

        def run() -> None:
            try:
                result["record"] = work(progress)
            except BaseException as exc:  # reported below
                result["error"] = exc

        thread = threading.Thread(target=run, name="vcval-ingest", daemon=True)
        thread.start()
        yield f"\u23f3 {first}\u2026 (0%)", gr.skip()
        while thread.is_alive() or not events.empty():
            try:
                frac, desc = events.get(timeout=0.3)
            except queue.Empty:
                continue
            pct = int(round(100 * min(max(frac, 0.0), 1.0)))
            bar = "\u2593" * (pct // 10) + "\u2591" * (10 - pct // 10)
            yield f"\u23f3 {desc[:1].upper()}{desc[1:]} \u2026 {bar} {pct}%", gr.skip()
        thread.join()
        exc = result.get("error")
        if isinstance(exc, DuplicateVideoError):
            yield f"\u2139\ufe0f {self._message(exc, *uploads)}", self.list_videos()
        elif isinstance(exc, VCVALError):
            yield f"\u274c {self._message(exc, *uploads)}", self.list_videos()
        elif exc is not None:
            logger.error("ingest failed", exc_info=exc)
            yield f"\u274c {GENERIC_ERROR}", self.list_videos()
        else:
            yield self._added(result["record"]), self.list_videos()

    def add_video(self, video_file: str | None, subtitle_file: str | None = None, title: str | None = None,
                  admin_token: str | None = None) -> Iterator[tuple[str, Any]]:
        """Ingest an uploaded video (+ optional subtitles); yields (status, corpus table) as it progresses."""
        self.settings.check_admin(admin_token)
        if not video_file:
            yield "\u274c Choose a video file to upload first.", self.list_videos()
            return
        yield from self._ingest(
            lambda progress: self.pipeline.corpus.add_video(video_file, subtitles=subtitle_file or None,
                                                            title=(title or "").strip() or Path(video_file).stem,
                                                            progress=progress),
            uploads=[video_file, subtitle_file])

    def add_url(self, url: str | None, admin_token: str | None = None) -> Iterator[tuple[str, Any]]:
        """Download and ingest a video URL; yields (status, corpus table) as it progresses."""
        self.settings.check_admin(admin_token)
        if not url or not url.strip():
            yield "\u274c Paste a video URL first (http:// or https://).", self.list_videos()
            return
        yield from self._ingest(lambda progress: self.pipeline.corpus.add_url(url.strip(), progress=progress),
                                first="Downloading the video")


# --------------------------------------------------------------------------- UI
def _default_pipeline(corpus_dir: str | os.PathLike | None, *, demo: bool) -> VCVAL:
    from vcval.pipeline import VCVAL

    if demo:  # the embedded demo corpus, ingested once (into the cache, or the given directory)
        from vcval.demo import ensure_demo_corpus

        corpus = ensure_demo_corpus(corpus_dir)
    else:  # a user's corpus, served as it is
        from vcval.corpus import Corpus

        corpus = Corpus.open(corpus_dir if corpus_dir is not None else "corpus")
    # honours VCVAL_CHECKPOINT(_REVISION); VCVAL_RUNTIME: auto (ONNX export on a CPU host when there is one), torch, onnx
    pipeline = VCVAL.from_pretrained(corpus=corpus, runtime=app_runtime())
    try:  # warm-up: load the encoders and cache the cue vectors before the first user asks
        pipeline.ask("How do I put on an arm sling?", k=TOP_K)
    except VCVALError as exc:
        logger.warning("warm-up question failed: %s", exc)
    return pipeline


def app_runtime() -> str:
    """The app's runtime from ``$VCVAL_RUNTIME`` (default "auto": the default model's ONNX export on a CPU host
    when ``vcval export`` made one, without loading torch; see :func:`vcval.pipeline.choose_runtime`)."""
    from vcval.pipeline import EXPORT_HINT, choose_runtime

    runtime = os.environ.get("VCVAL_RUNTIME", "").strip().lower() or "auto"
    try:
        choice = choose_runtime(runtime)
    except VCVALError as exc:
        raise VCVALError(f"VCVAL_RUNTIME: {exc}") from exc
    if choice.missing_export:
        logger.info("serving on torch: %s", EXPORT_HINT)
    logger.info("runtime: %s (VCVAL_RUNTIME=%s)", choice.runtime, runtime)
    return runtime


def _public_ingest_limits(pipeline: VCVAL) -> None:
    """Public mode: the corpus refuses videos over the public profile's size, duration and resolution
    (``vcval.ingest.limits``; ``VCVAL_MAX_*`` variables still override)."""
    try:
        from vcval.ingest.limits import IngestLimits
    except ImportError:  # a vcval without ingest limits: the upload size cap (max_file_size) still applies
        logger.warning("public mode: this vcval has no ingest limits; only the upload size is capped")
        return
    if hasattr(pipeline.corpus, "limits"):
        pipeline.corpus.limits = IngestLimits.from_env(IngestLimits.public())
        logger.info("public mode: ingest limits %s", pipeline.corpus.limits)


def served_dirs(pipeline: VCVAL) -> list[str]:
    """The corpus folders the app serves files from: its media and its clips."""
    root = getattr(pipeline.corpus, "root", None)
    return [] if root is None else [str(Path(root) / "media"), str(Path(root) / "clips")]


def _serve_paths(pipeline: VCVAL) -> None:
    """Serve the corpus's media and clips in place (no copy into Gradio's cache)."""
    if served_dirs(pipeline):
        gr.set_static_paths(served_dirs(pipeline))


def build_demo(pipeline: VCVAL | None = None, corpus_dir: str | os.PathLike | None = None, *,
               examples: Sequence[str] | None = None, k: int = TOP_K, page: PageConfig | None = None,
               settings: AppSettings | None = None, demo_corpus: bool | None = None) -> gr.Blocks:
    """The Gradio app over ``pipeline``.

    ``pipeline`` None builds the default one: over ``corpus_dir`` as it is, or (``corpus_dir``
    None, or ``demo_corpus``) over the embedded demo corpus, ingested on first start (default
    directory: ``$VCVAL_HOME/demo-corpus`` or ``~/.cache/vcval/demo-corpus``). ``page``: title,
    intro, banner and examples (default: the demo page on the demo corpus, else the corpus's
    ``app.json``, else generic); ``examples`` overrides the page's. ``settings``: public mode
    and limits (default: from the environment). ``k``: answers listed per question.
    """
    settings = settings or AppSettings.from_env()
    if demo_corpus is None:
        demo_corpus = pipeline is None and corpus_dir is None
    if pipeline is None:
        pipeline = _default_pipeline(corpus_dir, demo=demo_corpus)
    if page is None:
        page = PageConfig.demo() if demo_corpus else PageConfig.load(getattr(pipeline.corpus, "root", None))
    if examples is not None:
        page = PageConfig(page.title, page.intro, page.banner, tuple(examples))
    _serve_paths(pipeline)
    if settings.public and settings.can_change:
        _public_ingest_limits(pipeline)
    h = DemoHandlers(pipeline, k=k, settings=settings)
    need_token = settings.public and settings.can_change

    delete_cache = (3600, 3600) if settings.public else None  # every hour, files older than an hour
    with gr.Blocks(title=page.title, delete_cache=delete_cache) as demo:
        gr.HTML(page.header_html(), elem_id="vcval-header", js_on_load=None)
        state = gr.State({})
        with gr.Row(equal_height=True, elem_id="vcval-ask-row"):
            question = gr.Textbox(label="Your question", placeholder="e.g. How do I put on an arm sling?",
                                  scale=6, lines=1, max_lines=3, autofocus=True, show_label=False, container=False)
            ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=72)
        example_box = None
        if page.examples:
            example_box = gr.Dropdown(choices=[("Example questions\u2026", "")] + list(page.examples), value="",
                                      label="Example questions",
                                      show_label=False, container=False, interactive=True,
                                      info=None, elem_id="vcval-examples",
                                      allow_custom_value=False, filterable=False)
        info = gr.Markdown("*Ask a question to see the answer inside its video.*", label="Answer",
                           elem_id="vcval-answer-info")
        with gr.Row():
            with gr.Column(scale=3, min_width=280):
                with gr.Tabs(elem_id="vcval-players"):
                    with gr.Tab("In the full video", id="full") as full_tab:
                        full_video = gr.Video(label="Full video", show_label=False, interactive=False, height=340,
                                              elem_id="vcval-full", buttons=[])
                    with gr.Tab("Answer clip", id="clip") as clip_tab:
                        clip = gr.Video(label="Answer clip", show_label=False, interactive=False, height=340,
                                        elem_id="vcval-clip", buttons=["download"])
                        download = gr.DownloadButton("Download clip", visible=False, size="sm")
            with gr.Column(scale=2, min_width=260):
                subs = gr.HTML(label="Subtitles", elem_id="vcval-subs", js_on_load=SEEK_JS,
                               value="<p style='color:#888'>The answer's subtitles appear here; click one to play "
                                     "the video from there.</p>")
                with gr.Row(equal_height=True):
                    up_btn = gr.Button("\u2713 Right answer", size="sm", min_width=60)
                    down_btn = gr.Button("\u2717 Wrong answer", size="sm", min_width=60)
                right_span = gr.Textbox(label="The right span, if you know it (optional, e.g. 1:05-1:30)",
                                        max_lines=1)
                feedback_status = gr.Markdown(label="Feedback")
        answers = gr.Radio(choices=[], label="Top answers", elem_id="vcval-answers")
        with gr.Accordion("Answers as JSON", open=False):
            answers_json = gr.JSON(label="Answers")

        with gr.Accordion("Videos in the corpus", open=False):
            with gr.Row():
                search = gr.Textbox(label="Filter", placeholder="words in the title, id, source, channel\u2026",
                                    scale=4, max_lines=1)
                refresh_btn = gr.Button("Refresh", size="sm", scale=1)
            corpus_table = gr.Dataframe(headers=CORPUS_HEADERS, interactive=False, max_height=320, wrap=True,
                                        elem_id="vcval-corpus",
                                        column_widths=["11%", "19%", "7%", "9%", "18%", "11%", "8%", "7%", "10%"],
                                        label="Videos")
            if settings.can_change:
                with gr.Row(equal_height=False):
                    remove_id = gr.Textbox(label="Remove a video (id)", max_lines=1, scale=3)
                    remove_token = gr.Textbox(label="Admin token", type="password", max_lines=1, scale=2,
                                              visible=need_token)
                    remove_btn = gr.Button("Remove", variant="stop", size="md", scale=1, min_width=90)
                remove_status = gr.Markdown(label="Removal status")

        if settings.can_change:
            with gr.Accordion("Add to corpus", open=False):
                admin_token = gr.Textbox(label="Admin token", type="password", max_lines=1, visible=need_token)
                with gr.Row():
                    with gr.Column():
                        video_file = gr.File(label="Video file", file_types=["video"], type="filepath", height=110)
                        sub_file = gr.File(label="Subtitles (optional: .srt, .vtt or .json)",
                                           file_types=[".srt", ".vtt", ".json"], type="filepath", height=110)
                        title = gr.Textbox(label="Title (optional)", max_lines=1)
                        add_btn = gr.Button("Add video")
                    with gr.Column():
                        url = gr.Textbox(label="Video URL", placeholder="https://...", max_lines=1)
                        url_btn = gr.Button("Add from URL")
                        gr.Markdown("Without subtitles, speech is transcribed on this machine (this takes a while). "
                                    + (f"Uploads up to {settings.max_upload_mb:.0f} MB. " if settings.max_upload_mb
                                       else "")
                                    + "One video is added at a time; others wait in line.")
                add_status = gr.Markdown(label="Status", elem_id="vcval-add-status", min_height=40)

        # ------------------------------------------------------------ events
        ask_outputs = [info, clip, download, subs, answers, answers_json, state]
        ask_fn = _guard(h.ask)
        full_fn = _guard(h.full_video_for)
        ask_btn.click(ask_fn, inputs=[question], outputs=ask_outputs, api_name="ask").then(
            full_fn, inputs=[state], outputs=[full_video], api_visibility="private", show_progress="hidden").then(
            None, js=OPEN_AT_JS, api_visibility="private")
        question.submit(ask_fn, inputs=[question], outputs=ask_outputs, api_name="ask_submit",
                        api_visibility="private").then(
            full_fn, inputs=[state], outputs=[full_video], api_visibility="private", show_progress="hidden").then(
            None, js=OPEN_AT_JS, api_visibility="private")
        def ask_example(q: str, request: gr.Request, progress: gr.Progress = gr.Progress()):
            """A chosen example question (the placeholder entry asks nothing)."""
            if not q or not q.strip():
                return tuple(gr.skip() for _ in ask_outputs)
            return h.ask(q, request, progress)

        if example_box is not None:
            example_box.input(lambda q: q or gr.skip(), inputs=[example_box], outputs=[question],
                              api_visibility="private", show_progress="hidden").success(
                _guard(ask_example), inputs=[question], outputs=ask_outputs, api_visibility="private").then(
                full_fn, inputs=[state], outputs=[full_video], api_visibility="private", show_progress="hidden").then(
            None, js=OPEN_AT_JS, api_visibility="private")
        answers.input(_guard(h.select), inputs=[state, answers], outputs=[info, clip, download, subs, state],
                      api_visibility="private").then(
            full_fn, inputs=[state], outputs=[full_video], api_visibility="private", show_progress="hidden").then(
            None, js=OPEN_AT_JS, api_visibility="private")
        # Gradio does not keep values sent to a component of a hidden tab: send them again when it is shown
        clip_tab.select(_guard(h.clip_for), inputs=[state], outputs=[clip, download], api_visibility="private",
                        show_progress="hidden")
        full_tab.select(full_fn, inputs=[state], outputs=[full_video], api_visibility="private",
                        show_progress="hidden").then(None, js=OPEN_AT_JS, api_visibility="private")

        def vote_up(current: dict, span: str | None, request: gr.Request) -> str:
            return h.vote(current, "up", span, request)

        def vote_down(current: dict, span: str | None, request: gr.Request) -> str:
            return h.vote(current, "down", span, request)

        up_btn.click(_guard(vote_up), inputs=[state, right_span], outputs=[feedback_status], api_visibility="private")
        down_btn.click(_guard(vote_down), inputs=[state, right_span], outputs=[feedback_status],
                       api_visibility="private")

        with gr.Column(visible=False):  # the API form of the thumbs: rate any answer of /ask
            fb_inputs = [gr.Textbox(label="question"), gr.Textbox(label="video_id"), gr.Number(label="start"),
                         gr.Number(label="end"), gr.Radio(["up", "down"], label="vote"),
                         gr.Textbox(label="right_span", value="")]
            fb_message = gr.Textbox(label="message")
            fb_btn = gr.Button("feedback")
        fb_btn.click(_guard(h.feedback), inputs=fb_inputs, outputs=[fb_message], api_name="feedback")

        list_fn = _guard(h.list_videos)
        refresh_btn.click(list_fn, inputs=[search], outputs=[corpus_table], api_name="list_videos")
        search.submit(list_fn, inputs=[search], outputs=[corpus_table], api_visibility="private")
        demo.load(list_fn, outputs=[corpus_table], api_visibility="private")
        demo.load(_guard(h.ask_from_url), outputs=[question, *ask_outputs], api_visibility="private").then(
            full_fn, inputs=[state], outputs=[full_video], api_visibility="private", show_progress="hidden").then(
            None, js=OPEN_AT_JS, api_visibility="private")

        if settings.can_change:
            add_inputs = [video_file, sub_file, title] + ([admin_token] if need_token else [])
            url_inputs = [url] + ([admin_token] if need_token else [])
            busy = [add_btn, url_btn]

            def _busy(flag: bool) -> Callable[[], list[Any]]:
                return lambda: [gr.Button(interactive=not flag) for _ in busy]

            ingest = {"concurrency_limit": 1, "concurrency_id": "ingest", "show_progress": "minimal"}
            add_btn.click(_busy(True), outputs=busy, api_visibility="private", show_progress="hidden",
                          queue=False).then(
                _guard(h.add_video), inputs=add_inputs, outputs=[add_status, corpus_table], api_name="add_video",
                **ingest).then(_busy(False), outputs=busy, api_visibility="private", show_progress="hidden",
                               queue=False)
            url_btn.click(_busy(True), outputs=busy, api_visibility="private", show_progress="hidden",
                          queue=False).then(
                _guard(h.add_url), inputs=url_inputs, outputs=[add_status, corpus_table], api_name="add_url",
                **ingest).then(_busy(False), outputs=busy, api_visibility="private", show_progress="hidden",
                               queue=False)
            remove_btn.click(_guard(h.remove_video), inputs=[remove_id, remove_token, search],
                             outputs=[remove_status, corpus_table], api_name="remove_video",
                             concurrency_limit=1, concurrency_id="ingest")

    demo.queue(max_size=settings.queue_size, default_concurrency_limit=2)
    _launch_defaults(demo, settings, served_dirs(pipeline))
    demo.vcval_handlers = h  # for tests and embedding
    demo.vcval_page = page
    return demo


def _launch_defaults(demo: gr.Blocks, settings: AppSettings, allowed: Sequence[str] = ()) -> None:
    """Make ``demo.launch()`` (however it is called: main, ``vcval serve``, tests) apply the app's CSS and limits,
    and allow the corpus's media and clips (``allowed``; static paths alone miss a corpus under a symlink)."""
    launch = demo.launch
    defaults: dict[str, Any] = {"css": CSS, "show_error": True, "allowed_paths": list(allowed)}
    if settings.max_upload_mb:
        defaults["max_file_size"] = f"{settings.max_upload_mb:g}mb"

    @functools.wraps(launch)
    def launch_with_defaults(*args: Any, **kwargs: Any) -> Any:
        for key, value in defaults.items():
            kwargs.setdefault(key, value)
        return launch(*args, **kwargs)

    demo.launch = launch_with_defaults  # type: ignore[method-assign]


def persistent_demo_dir() -> Path | None:
    """Where a Space keeps the demo corpus across restarts: ``$VCVAL_PERSISTENT_DIR/vcval-corpus`` when that
    directory exists and is writable (a Space's ``/data``), seeded from the demo corpus built into the image."""
    base = os.environ.get("VCVAL_PERSISTENT_DIR", "").strip()
    if not base or not Path(base).is_dir() or not os.access(base, os.W_OK):
        return None
    target = Path(base) / "vcval-corpus"
    if not (target / "corpus.sqlite").is_file():
        from vcval.demo import default_demo_dir

        built = default_demo_dir()
        if (built / "corpus.sqlite").is_file():
            tmp = Path(base) / f".vcval-corpus.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(built, tmp, ignore=shutil.ignore_patterns("clips", ".staging", "*.lock"))
            os.replace(tmp, target)
            logger.info("seeded the persistent corpus %s from %s", target, built)
    return target


_demo: gr.Blocks | None = None


def __getattr__(name: str) -> Any:
    """``vcval.app.demo`` is built on first access, so importing the module stays cheap (tests, embedding)."""
    global _demo
    if name == "demo":
        if _demo is None:
            try:
                _demo = build_demo(corpus_dir=persistent_demo_dir(), demo_corpus=True)
            except VCVALError as exc:  # a setting the operator can fix (VCVAL_RUNTIME, VCVAL_CHECKPOINT, ...)
                raise SystemExit(f"vcval app: cannot start: {exc}") from None
        return _demo
    raise AttributeError(name)


def main() -> None:
    """Launch the app (server name/port from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    port = os.environ.get("GRADIO_SERVER_PORT")
    __getattr__("demo").launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                               server_port=int(port) if port else None)


if __name__ == "__main__":
    main()
