"""vcval Gradio app: ask a question, watch the answer clip with its subtitles highlighted.

    python app.py                      # (the repository's Space entry point) the embedded demo corpus
    vcval serve --corpus mine/         # the same UI over your own corpus
    GRADIO_SERVER_NAME=0.0.0.0 GRADIO_SERVER_PORT=7860 python -m vcval.app

Open ``http://host:port/?q=How+do+I+stop+a+nosebleed%3F`` to ask a question on page load.

The UI is thin over the library: ``build_demo(pipeline)`` wires a :class:`vcval.pipeline.VCVAL`
into a ``gr.Blocks``. Every action has an ``api_name`` (``/ask``, ``/add_video``, ``/add_url``,
``/list_videos``) so it can be called with ``gradio_client``. The module-level ``demo`` (for
Hugging Face Spaces and ``gradio app.py``) is built on first access only.
"""
from __future__ import annotations

import functools
import hashlib
import html
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
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
GENERIC_ERROR = "Something went wrong on the server; the details are in its log. Please try again."
BANNER = (
    '<div style="background:#fff4e5;border:1px solid #f0b35b;border-radius:8px;padding:10px 14px;'
    'color:#6b4100;font-size:15px"><b>Demo content &mdash; not medical advice.</b> The built-in videos are '
    "short synthetic demonstrations of first aid made for this app. Always follow a qualified professional; "
    "in an emergency call your local emergency number.</div>"
)
INTRO = (
    "# vcval &middot; find the answer inside videos\n"
    "Ask a question in plain language: vcval finds the video and the exact time span that answers it, "
    "plays that clip, and highlights the subtitles that answer it."
)
ANSWER_HEADERS = ["rank", "video", "span", "confidence"]
NO_CONFIDENT = ("**No confident answer in this corpus.** The closest matches are shown below; they may not "
                "answer the question. Try other words, or add videos on this topic.")
CORPUS_HEADERS = ["id", "title", "duration", "cues", "subtitles", "source"]


# --------------------------------------------------------------------------- formatting
def fmt_time(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) for a time in seconds."""
    s = int(round(max(0.0, float(seconds))))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def fmt_span(start: float, end: float) -> str:
    return f"{fmt_time(start)}\u2013{fmt_time(end)}"


def confidence_label(answer: Answer) -> str:
    """How people read a confidence: "high (83%)", "medium (41%)", "low (7%)"; the raw score when uncalibrated."""
    if answer.confidence is None:
        return f"score {float(answer.score):.3f}"
    c = float(answer.confidence)
    level = "high" if c >= 0.6 else "medium" if answer.confident else "low"
    return f"{level} ({100 * c:.0f}%)"


def subtitles_html(cues: Sequence[Cue], answer: Answer, context: int = CONTEXT_CUES) -> str:
    """The video's cues around the answer, one per line with a timestamp; answer cues in <mark>."""
    if not cues:
        return "<p><i>This video has no subtitles.</i></p>"
    hit = {c.index for c in answer.cues}
    if not hit:  # localizers that return no cue list: the cues overlapping the span
        hit = {c.index for c in cues if c.end > answer.start and c.start < answer.end}
    pos = [i for i, c in enumerate(cues) if c.index in hit] or [0]
    lo, hi = max(0, min(pos) - context), min(len(cues), max(pos) + context + 1)
    rows = []
    if lo:
        rows.append(f'<div style="color:#888;font-size:13px">&hellip; {lo} earlier cue{"s" * (lo != 1)}</div>')
    for c in cues[lo:hi]:
        text = html.escape(c.text)
        if c.index in hit:
            text = f'<mark style="background:#ffe066;padding:1px 3px;border-radius:3px">{text}</mark>'
        rows.append(
            f'<div style="margin:3px 0;line-height:1.45"><span style="font-family:monospace;color:#1f5f7a;'
            f'margin-right:8px">{fmt_time(c.start)}</span>{text}</div>'
        )
    if hi < len(cues):
        n = len(cues) - hi
        rows.append(f'<div style="color:#888;font-size:13px">&hellip; {n} later cue{"s" * (n != 1)}</div>')
    return '<div style="max-height:420px;overflow-y:auto;padding:4px 8px">' + "".join(rows) + "</div>"


def _guard(fn: Callable) -> Callable:
    """Show VCVALError messages to the user; log anything else and show a short generic message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except VCVALError as exc:
            logger.info("%s: %s", fn.__name__, exc)
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            logger.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(GENERIC_ERROR, print_exception=False) from None

    return wrapper


# --------------------------------------------------------------------------- handlers
class DemoHandlers:
    """The app's actions over one pipeline (shared by all users; per-user data is in gr.State)."""

    def __init__(self, pipeline: VCVAL, k: int = TOP_K) -> None:
        self.pipeline = pipeline
        self.k = k
        root = str(getattr(pipeline.corpus, "root", "corpus"))
        # Gradio serves files from the temp dir or cwd; clips are copied there (the corpus may be elsewhere)
        self.clip_dir = Path(tempfile.gettempdir()) / "vcval-clips" / hashlib.sha1(root.encode()).hexdigest()[:10]

    # ---------------------------------------------------------------- ask / show
    def _clip_for(self, answer: Answer) -> str | None:
        if self.pipeline.corpus.media_file(answer.video_id) is None:
            return None
        src = Path(self.pipeline.clip(answer))
        self.clip_dir.mkdir(parents=True, exist_ok=True)
        dst = self.clip_dir / src.name
        if not dst.is_file() or dst.stat().st_size != src.stat().st_size:
            tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        return str(dst)

    def render(self, answer: Answer, rank: int) -> tuple[Any, str, str]:
        """(video update, info markdown, subtitles html) for one answer."""
        clip = self._clip_for(answer)
        cues = self.pipeline.corpus.cues(answer.video_id)
        label = confidence_label(answer)
        if answer.confident is False:
            label = f"closest match, not a confident answer: confidence {label}"
        elif answer.confidence is not None:
            label = f"confidence {label}"
        info = (f"### {rank}. {html.escape(answer.title)}\n"
                f"**{fmt_span(answer.start, answer.end)}** &nbsp;&middot;&nbsp; {label}"
                f" &nbsp;&middot;&nbsp; video id `{answer.video_id}`")
        if clip is None:
            info += "\n\n*Transcript-only record: there is no video to play, see the subtitles.*"
            return gr.Video(value=None), info, subtitles_html(cues, answer)
        t0 = self.pipeline.clip_start(answer)  # the clip starts a few seconds before the answer (lead-in)
        span_cues = [{"text": c.text, "timestamp": [max(0.0, c.start - t0), max(0.0, c.end - t0)]}
                     for c in cues if c.end > t0 and c.start < answer.end]
        video = gr.Video(value=clip, subtitles=span_cues or None)
        return video, info, subtitles_html(cues, answer)

    def ask(self, question: str, progress: gr.Progress = gr.Progress()):
        """Answer ``question``: best clip, its info and subtitles, the top-answers table, JSON, state."""
        progress(0.1, desc="searching the corpus")
        answers = self.pipeline.ask(question, k=self.k)
        if not answers:
            gr.Warning("No answer found: try other words, or add videos on this topic to the corpus.")
            return gr.Video(value=None), "*No answer found.*", "", [], [], []
        progress(0.7, desc="cutting the clip")
        video, info, subs = self.render(answers[0], 1)
        if all(a.confident is False for a in answers):
            info = NO_CONFIDENT + "\n\n" + info
        table = [[i + 1, a.title, fmt_span(a.start, a.end), confidence_label(a)] for i, a in enumerate(answers)]
        data = [a.to_dict() for a in answers]
        return video, info, subs, table, data, data

    def ask_from_url(self, request: gr.Request, progress: gr.Progress = gr.Progress()):
        """On page load, ask the question given as ``?q=...`` in the URL (shareable links)."""
        params = getattr(request, "query_params", None) or {}
        q = (params.get("q") or "").strip()
        if not q:
            return tuple(gr.skip() for _ in range(7))
        return (q, *self.ask(q, progress))

    def select(self, state: list[dict], evt: gr.SelectData):
        """Show the answer of the selected table row."""
        if not state:
            raise gr.Error("Ask a question first.", print_exception=False)
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else int(evt.index)
        row = min(max(int(row), 0), len(state) - 1)
        return self.render(Answer.from_dict(state[row]), row + 1)

    # ---------------------------------------------------------------- corpus
    def list_videos(self) -> list[list[Any]]:
        """One row per video of the corpus: id, title, duration, cues, subtitle source, source."""
        return [[r.video_id, r.title, fmt_time(r.duration), r.n_cues, r.subtitle_source,
                 r.source if len(r.source) <= 60 else "\u2026" + r.source[-59:]]
                for r in self.pipeline.corpus]

    def _added(self, record) -> str:
        warn = ""
        try:
            notes = self.pipeline.corpus.warnings(record.video_id)
            warn = "".join(f"\n\n\u26a0\ufe0f {html.escape(w)}" for w in notes)
        except (VCVALError, AttributeError):
            pass
        return (f"\u2705 Added **{html.escape(record.title)}** as `{record.video_id}` "
                f"({fmt_time(record.duration)}, {record.n_cues} cues from {record.subtitle_source}).{warn}")

    def add_video(self, video_file: str | None, subtitle_file: str | None, title: str | None,
                  progress: gr.Progress = gr.Progress()):
        """Ingest an uploaded video (+ optional subtitles); returns (status markdown, corpus table)."""
        if not video_file:
            return "\u274c Choose a video file to upload first.", self.list_videos()
        try:
            record = self.pipeline.corpus.add_video(video_file, subtitles=subtitle_file or None,
                                                    title=(title or "").strip() or None, progress=progress)
        except DuplicateVideoError as exc:
            return f"\u2139\ufe0f {html.escape(str(exc))}", self.list_videos()
        except VCVALError as exc:
            return f"\u274c {html.escape(str(exc))}", self.list_videos()
        return self._added(record), self.list_videos()

    def add_url(self, url: str | None, progress: gr.Progress = gr.Progress()):
        """Download and ingest a video URL; returns (status markdown, corpus table)."""
        if not url or not url.strip():
            return "\u274c Paste a video URL first (http:// or https://).", self.list_videos()
        try:
            record = self.pipeline.corpus.add_url(url.strip(), progress=progress)
        except DuplicateVideoError as exc:
            return f"\u2139\ufe0f {html.escape(str(exc))}", self.list_videos()
        except VCVALError as exc:
            return f"\u274c {html.escape(str(exc))}", self.list_videos()
        return self._added(record), self.list_videos()


# --------------------------------------------------------------------------- UI
def _default_pipeline(corpus_dir: str | os.PathLike | None) -> VCVAL:
    from vcval.demo import ensure_demo_corpus
    from vcval.pipeline import VCVAL

    if corpus_dir is None:  # the embedded demo corpus, ingested once into the cache
        corpus = ensure_demo_corpus(None)
    else:  # a user's corpus, served as it is
        from vcval.corpus import Corpus

        corpus = Corpus.open(corpus_dir)
    pipeline = VCVAL.from_pretrained(corpus=corpus)  # honours VCVAL_CHECKPOINT(_REVISION)
    try:  # warm-up: load the encoders and cache the cue vectors before the first user asks
        pipeline.ask("How do I put on an arm sling?", k=TOP_K)
    except VCVALError as exc:
        logger.warning("warm-up question failed: %s", exc)
    return pipeline


def _default_examples() -> list[str]:
    from vcval.demo import demo_questions

    try:
        return [q.question for q in demo_questions()]
    except VCVALError:
        return []


def build_demo(pipeline: VCVAL | None = None, corpus_dir: str | os.PathLike | None = None, *,
               examples: Sequence[str] | None = None, k: int = TOP_K) -> gr.Blocks:
    """The Gradio app over ``pipeline``.

    ``pipeline`` None builds the default one over the embedded demo corpus, ingested on
    first start into ``corpus_dir`` (default: ``$VCVAL_HOME/demo-corpus`` or
    ``~/.cache/vcval/demo-corpus``). ``examples``: example questions (default: the demo
    corpus questions). ``k``: answers listed per question.
    """
    if pipeline is None:
        pipeline = _default_pipeline(corpus_dir)
    h = DemoHandlers(pipeline, k=k)
    examples = list(_default_examples() if examples is None else examples)

    with gr.Blocks(title="vcval: find the answer inside videos") as demo:
        gr.HTML(BANNER)
        gr.Markdown(INTRO)
        answers_state = gr.State([])
        with gr.Row(equal_height=True):
            question = gr.Textbox(label="Your question", placeholder="e.g. How do I put on an arm sling?",
                                  scale=6, lines=1, max_lines=3, autofocus=True)
            ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=100)
        if examples:
            gr.Examples(examples=[[q] for q in examples], inputs=[question], label="Example questions",
                        examples_per_page=len(examples))
        with gr.Row():
            with gr.Column(scale=3):
                video = gr.Video(label="Answer clip", interactive=False, height=360)
                info = gr.Markdown("*Ask a question to see the answer clip.*")
            with gr.Column(scale=2):
                gr.Markdown("**Subtitles** (the answer is highlighted)")
                subs = gr.HTML()
        answers_table = gr.Dataframe(headers=ANSWER_HEADERS, datatype=["number", "str", "str", "str"],
                                     interactive=False, label="Top answers (select a row to show it)",
                                     column_widths=["8%", "52%", "25%", "15%"], max_height=260)
        with gr.Accordion("Answers as JSON", open=False):
            answers_json = gr.JSON(label="answers")
        with gr.Accordion("Add to corpus", open=False):
            with gr.Row():
                with gr.Column():
                    video_file = gr.File(label="Video file", file_types=["video"], type="filepath", height=130)
                    sub_file = gr.File(label="Subtitles (optional: .srt, .vtt or .json)",
                                       file_types=[".srt", ".vtt", ".json"], type="filepath", height=130)
                    title = gr.Textbox(label="Title (optional)")
                    add_btn = gr.Button("Add video")
                with gr.Column():
                    url = gr.Textbox(label="Video URL", placeholder="https://...")
                    url_btn = gr.Button("Add from URL")
                    gr.Markdown("Without subtitles, speech is transcribed on this machine (this takes a while).")
            add_status = gr.Markdown()
        with gr.Accordion("Videos in the corpus", open=False):
            corpus_table = gr.Dataframe(headers=CORPUS_HEADERS, interactive=False, max_height=320)
            refresh_btn = gr.Button("Refresh", size="sm")

        ask_outputs = [video, info, subs, answers_table, answers_json, answers_state]
        ask_fn = _guard(h.ask)
        ask_btn.click(ask_fn, inputs=[question], outputs=ask_outputs, api_name="ask")
        question.submit(ask_fn, inputs=[question], outputs=ask_outputs, api_name="ask_submit",
                        api_visibility="private")
        answers_table.select(_guard(h.select), inputs=[answers_state], outputs=[video, info, subs],
                             api_name="select_answer", api_visibility="private")
        add_btn.click(_guard(h.add_video), inputs=[video_file, sub_file, title], outputs=[add_status, corpus_table],
                      api_name="add_video", concurrency_limit=1, concurrency_id="ingest")
        url_btn.click(_guard(h.add_url), inputs=[url], outputs=[add_status, corpus_table], api_name="add_url",
                      concurrency_limit=1, concurrency_id="ingest")
        refresh_btn.click(_guard(h.list_videos), outputs=[corpus_table], api_name="list_videos")
        demo.load(_guard(h.list_videos), outputs=[corpus_table], api_name="list_videos_on_load",
                  api_visibility="private")
        demo.load(_guard(h.ask_from_url), outputs=[question, *ask_outputs], api_name="ask_from_url",
                  api_visibility="private")
    demo.vcval_handlers = h  # for tests and embedding
    return demo


_demo: gr.Blocks | None = None


def __getattr__(name: str) -> Any:
    """``vcval.app.demo`` is built on first access, so importing the module stays cheap (tests, embedding)."""
    global _demo
    if name == "demo":
        if _demo is None:
            _demo = build_demo()
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
