"""Command line: ``vcval ingest | corpus | ask | export | eval | train | feedback | serve``."""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vcval.errors import EmptyCorpusError, InvalidInputError, NotFoundError, VCVALError
from vcval.pipeline import METHODS

if TYPE_CHECKING:
    from vcval.types import Answer

# Heavy libraries (torch, transformers, faiss, bm25s, gradio) are imported inside the commands that
# need them, after the command's input is checked: `vcval --help` and rejected input import none of them.

logger = logging.getLogger("vcval")
DEFAULT_CORPUS = "corpus"


def _fmt_time(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60):02d}:{seconds % 60:05.2f}"


def _is_url(text: str) -> bool:
    return "://" in text or text.lower().startswith(("www.", "youtube.com", "youtu.be"))


def _failure_line(item: object, message: str) -> str:
    """``error: ITEM: MESSAGE`` on one line, without repeating the item when the message names it."""
    text = " ".join(str(message).split())
    label = str(item)
    name = Path(label).name if label else ""
    named = not label or label in text or (len(name) >= 3 and name in text)
    return f"error: {text}" if named else f"error: {label}: {text}"


def cmd_ingest(args: argparse.Namespace) -> int:
    from vcval.corpus import Corpus

    corpus = Corpus.open(args.corpus, asr_model=args.asr_model, lock_timeout=args.lock_timeout, index=args.index)
    failures = 0
    if args.ray:
        return _ingest_ray(corpus, args)
    for item in args.paths:
        try:
            if _is_url(item):
                records = [corpus.add_url(item, allow_private=True if args.allow_private_urls else None)]
                bad: list = []
            elif Path(item).is_dir():
                records, bad = corpus.add_path(item, recursive=True, progress=not args.quiet)
            elif Path(item).suffix.lower() == ".json":
                records, bad = [corpus.add_transcript(item, title=args.title)], []
            else:
                subtitles = args.subtitles if len(args.paths) == 1 else None
                records = [
                    corpus.add_video(item, subtitles=subtitles, title=args.title, visual_features=not args.no_visual)
                ]
                bad = []
        except VCVALError as err:
            print(_failure_line(item, str(err)), file=sys.stderr)
            failures += 1
            continue
        for rec in records:
            print(f"added {rec.video_id}  ({rec.n_cues} cues from {rec.subtitle_source}, {rec.duration:.1f} s)  {rec.title}")
        for path, message in bad:
            print(_failure_line(path, message), file=sys.stderr)
            failures += 1
    print(f"corpus {args.corpus}: {len(corpus)} videos" + (f", {failures} failed" if failures else ""))
    return 2 if failures else 0


def _ingest_ray(corpus: Any, args: argparse.Namespace) -> int:
    """``vcval ingest --ray ADDRESS``: per-file work as Ray tasks, commits here (:mod:`vcval.ingest.distributed`)."""
    from vcval.ingest.distributed import ray_ingest

    urls = [p for p in args.paths if _is_url(p)]
    if urls:
        raise InvalidInputError(f"--ray ingests files and folders; add URLs without --ray ({urls[0]})")
    records, bad = ray_ingest(corpus, args.paths, args.ray, num_cpus=args.ray_cpus,
                              visual_features=not args.no_visual, progress=not args.quiet)
    for rec in records:
        print(f"added {rec.video_id}  ({rec.n_cues} cues from {rec.subtitle_source}, {rec.duration:.1f} s)  {rec.title}")
    for path, message in bad:
        print(_failure_line(path, message), file=sys.stderr)
    print(f"corpus {args.corpus}: {len(corpus)} videos" + (f", {len(bad)} failed" if bad else ""))
    return 2 if bad else 0


def cmd_corpus(args: argparse.Namespace) -> int:
    from vcval.corpus import Corpus

    if args.corpus_cmd == "remove":
        corpus = Corpus.open(args.corpus, create=False, lock_timeout=args.lock_timeout, index=args.index)
        failures = 0
        for video_id in args.video_ids:
            try:
                corpus.remove(video_id)
            except VCVALError as err:
                print(_failure_line(video_id, str(err)), file=sys.stderr)
                failures += 1
                continue
            print(f"removed {video_id}")
        return 2 if failures else 0
    corpus = Corpus.open(args.corpus, create=False, read_only=True, index=args.index)  # a pure reader
    records = list(corpus)
    if args.json:
        print(json.dumps([r.__dict__ for r in records], indent=2))
        return 0
    if not records:
        print(f"corpus {args.corpus} is empty: add videos with `vcval ingest PATH --corpus {args.corpus}`")
        return 0
    width = max(len(r.video_id) for r in records)
    for r in records:
        print(f"{r.video_id:<{width}}  {r.duration:7.1f} s  {r.n_cues:4d} cues  {r.subtitle_source:<12}  {r.title}")
    print(f"{len(records)} videos")
    return 0


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _existing_corpus_dir(path: str) -> Path:
    """The corpus directory ``path`` for a read command: it must exist and hold a corpus (no model loaded)."""
    root = Path(path).expanduser()
    if not root.exists():
        raise NotFoundError(
            f"corpus {path} does not exist: add videos with `vcval ingest PATH --corpus {path}`, "
            "pass --corpus DIR of an existing corpus, or ask the embedded demo corpus with --demo"
        )
    if not root.is_dir():
        raise InvalidInputError(f"corpus path {path} is a file; pass --corpus DIR of a corpus directory")
    if not (root / "corpus.sqlite").is_file():
        if any(root.iterdir()):
            raise InvalidInputError(f"{path} is not a vcval corpus (no corpus.sqlite); pass --corpus DIR of a corpus")
        raise _empty_corpus(path)
    return root


def _empty_corpus(path: str) -> EmptyCorpusError:
    return EmptyCorpusError(f"the corpus is empty ({path}): add videos with `vcval ingest PATH --corpus {path}` first")


def validate_ask_args(args: argparse.Namespace) -> str:
    """Check ``vcval ask``'s input before anything heavy is imported; returns the normalised question."""
    from vcval.pipeline import MAX_K, validate_question

    question = validate_question(args.question)
    if args.k < 1:
        raise InvalidInputError(f"--k must be at least 1 (got {args.k})")
    if args.k > MAX_K:
        raise InvalidInputError(f"--k must be at most {MAX_K} (got {args.k})")
    if not _DEVICE.fullmatch(args.device):
        raise InvalidInputError(f"--device must be auto, cpu, cuda or cuda:N (got {args.device!r})")
    if args.demo:
        if args.corpus != DEFAULT_CORPUS:
            raise InvalidInputError("--demo asks the embedded demo corpus; leave out --corpus DIR (or --demo)")
    else:
        _existing_corpus_dir(args.corpus)
    if args.checkpoint:
        from vcval.config import looks_like_path

        path = Path(args.checkpoint).expanduser()
        if (path.exists() or looks_like_path(args.checkpoint)) and not path.is_dir():
            raise NotFoundError(f"checkpoint directory {args.checkpoint} does not exist (or is not a directory)")
    return question


def _print_answer(rank: int, a: Answer, label: str = "") -> None:
    confidence = "" if a.confidence is None else f"  confidence {a.confidence_label()}"
    print(f"{rank}. {label}{a.title} [{a.video_id}]  {_fmt_time(a.start)}–{_fmt_time(a.end)}  "
          f"score {a.score:.3f}{confidence}")
    for cue in a.cues[:6]:
        key = "\u25b6" if a.is_key_cue(cue) else " "  # the key sentence: closest to the question
        print(f"   {key} {_fmt_time(cue.start)}  {cue.text}")
    if len(a.cues) > 6:
        print(f"     … {len(a.cues) - 6} more cues")
    if a.clip_path:
        print(f"     clip: {a.clip_path}")


def print_answers(answers: Sequence[Answer]) -> None:
    """Human-readable answers; when every answer says it is not confident, they are shown as closest matches."""
    if not answers:
        print("no answer found in this corpus")
        return
    unsure = all(a.confident is False for a in answers)
    if unsure:
        print("no confident answer in this corpus; closest matches:")
    for rank, a in enumerate(answers, 1):
        _print_answer(rank, a, "closest match: " if unsure else "")


def cmd_ask(args: argparse.Namespace) -> int:
    question = validate_ask_args(args)
    from vcval.corpus import Corpus

    if args.demo:  # built into the cache on first use and reused, as `vcval serve` does
        from vcval.demo import default_demo_dir, ensure_demo_corpus

        def report(fraction: float, desc: str = "") -> None:  # called only when demo videos get ingested
            if fraction == 0.0:
                print(f"building the demo corpus in {default_demo_dir()} (first use only)", file=sys.stderr)
            print(f"  {desc}", file=sys.stderr)

        corpus = ensure_demo_corpus(index=args.index, progress=report)
    else:
        corpus = Corpus.open(args.corpus, create=False, index=args.index)
    if len(corpus) == 0:
        raise _empty_corpus(args.corpus)
    from vcval.pipeline import VCVAL

    ask_runtime(args)
    qa = VCVAL.from_pretrained(args.checkpoint, corpus=corpus, device=args.device, method=args.method,
                               runtime=args.runtime)
    answers = qa.ask(question, k=args.k, with_clips=args.clip)
    if args.json:
        print(json.dumps([a.to_dict() for a in answers], indent=2, ensure_ascii=False))
    else:
        print_answers(answers)
    return 0


def ask_runtime(args: argparse.Namespace) -> str:
    """The runtime ``vcval ask`` will serve on (:func:`vcval.pipeline.choose_runtime`); for "auto" without an
    export of the default model, a one-line hint on stderr to make one."""
    from vcval.pipeline import EXPORT_HINT, choose_runtime

    choice = choose_runtime(args.runtime, args.method, args.checkpoint, args.device)
    if choice.missing_export:
        print(f"note: {EXPORT_HINT}", file=sys.stderr)
    return choice.runtime


def cmd_export(args: argparse.Namespace) -> int:
    from vcval.runtime import export_default

    def started() -> None:
        print("exporting the model to ONNX (about a minute on 2 cores, once)...", file=sys.stderr)

    print(export_default(args.checkpoint, force=args.force, on_start=started))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from vcval.app import build_demo
    from vcval.corpus.backends import INDEX_ENV, parse_index_url

    if args.index:  # the app opens its corpus itself: hand it the index through the environment
        parse_index_url(args.index)
        os.environ[INDEX_ENV] = args.index
    if args.runtime:  # likewise the runtime (vcval.app.app_runtime reads it)
        os.environ["VCVAL_RUNTIME"] = args.runtime
    build_demo(corpus_dir=args.corpus).launch(server_name=args.host, server_port=args.port)
    return 0


def _seconds(text: str) -> float:
    """argparse type: a finite number of seconds >= 0."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _add_lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="how long to wait for another process's write lock (default: env VCVAL_LOCK_TIMEOUT or 600)")


def _add_index(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", default=None, metavar="URL",
                   help="where the search indexes live: embedded (default; env VCVAL_INDEX), "
                        "milvus://HOST:PORT[/PREFIX] or milvus-lite:///path/index.db")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vcval", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="add videos, folders, transcripts (.json) or URLs to a corpus")
    p.add_argument("paths", nargs="+", help="video files, folders (recursive), <id>.json transcripts or http(s) URLs")
    p.add_argument("--corpus", default=DEFAULT_CORPUS, help="corpus directory (default: ./corpus)")
    p.add_argument("--subtitles", help="subtitle file (.srt/.vtt/.json) for a single video")
    p.add_argument("--title", help="title for a single video")
    p.add_argument("--asr-model", help="faster-whisper model (default: packaged tiny.en; e.g. base.en, a local dir)")
    p.add_argument("--no-visual", action="store_true", help="skip visual feature extraction")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="let URLs reach loopback/private networks (trusted local use only; env VCVAL_ALLOW_PRIVATE_URLS=1)")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="prepare files as Ray tasks on the cluster at ADDRESS (HOST:PORT, ray://HOST:PORT) or "
                        "'auto' (a local cluster); files and folders only")
    p.add_argument("--ray-cpus", type=int, default=None, metavar="N", help="CPUs of the local cluster with --ray auto")
    _add_lock_timeout(p)
    _add_index(p)
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("corpus", help="list or remove the videos of a corpus")
    csub = p.add_subparsers(dest="corpus_cmd", required=True)
    pl = csub.add_parser("list", help="list videos")
    pl.add_argument("--corpus", default=DEFAULT_CORPUS)
    pl.add_argument("--json", action="store_true")
    _add_index(pl)
    pr = csub.add_parser("remove", help="remove videos by id")
    pr.add_argument("video_ids", nargs="+")
    pr.add_argument("--corpus", default=DEFAULT_CORPUS)
    _add_index(pr)
    _add_lock_timeout(pr)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("ask", help="answer a question from the corpus")
    p.add_argument("question")
    p.add_argument("--corpus", default=DEFAULT_CORPUS)
    p.add_argument("--demo", action="store_true", help="ask the embedded demo corpus (8 first-aid videos; built "
                   "into the cache on first use, as `vcval serve` does) instead of --corpus")
    p.add_argument("--k", type=int, default=5, help="number of answers (default 5)")
    p.add_argument("--json", action="store_true", help="print answers as JSON")
    p.add_argument("--clip", action="store_true", help="cut the answer clips and print their paths")
    p.add_argument("--method", default="default", choices=list(METHODS), help="retriever + localizer (default: default)")
    p.add_argument("--checkpoint", help="CCGS / CueSpan checkpoint; for repbert methods the RepBERT encoder, for "
                   "rocketqa its checkpoint, for mbvr the MBVR towers: a directory or Hub repo id (default: the "
                   "shipped one; repbert: $VCVAL_REPBERT; rocketqa: $VCVAL_ROCKETQA; mbvr: $VCVAL_MBVR)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                   help="auto (default): the ONNX export of the default model when `vcval export` made one and no "
                        "GPU is used (no torch import: about 1 s instead of 4 from the shell), else torch")
    _add_index(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("export", help="export the default model to ONNX, so `vcval ask` runs without torch")
    p.add_argument("--checkpoint", default=None, help="CueSpan checkpoint folder (default: the shipped one)")
    p.add_argument("--force", action="store_true", help="export again even if an export exists")
    p.set_defaults(func=cmd_export)

    from vcval.evaluation.report import add_eval_arguments, run_eval_command

    p = sub.add_parser("eval", help="evaluate a method on a question set (MedVidQA format)")
    add_eval_arguments(p)
    p.set_defaults(func=run_eval_command)

    try:
        from vcval.training.cli import (
            add_cuespan_arguments,
            add_mbvr_arguments,
            add_repbert_arguments,
            add_rocketqa_arguments,
            add_train_arguments,
            run_cuespan_command,
            run_mbvr_command,
            run_repbert_command,
            run_rocketqa_command,
            run_train_command,
        )
    except ImportError:
        pass
    else:
        p = sub.add_parser("train", help="train a model (recipes: configs/; see README, Training)")
        models = p.add_subparsers(dest="model", required=True, metavar="MODEL")
        m = models.add_parser("cuespan", help="train the default CueSpan localizer, then tune and calibrate it on dev")
        add_cuespan_arguments(m)
        m.set_defaults(func=run_cuespan_command)
        m = models.add_parser("ccgs", help="train CCGS from a TrainConfig JSON (resumes from <out_dir>/last)")
        add_train_arguments(m)
        m.set_defaults(func=run_train_command)
        m = models.add_parser("repbert", help="fine-tune the packaged MiniLM as the RepBERT bi-encoder retriever "
                              "(resumes from <out_dir>/last)")
        add_repbert_arguments(m)
        m.set_defaults(func=run_repbert_command)
        m = models.add_parser("rocketqa", help="train the RocketQAv2 dual encoder + cross-encoder re-ranker jointly "
                              "(dynamic listwise distillation, hybrid data augmentation)")
        add_rocketqa_arguments(m)
        m.set_defaults(func=run_rocketqa_command)
        m = models.add_parser("mbvr", help="train the MBVR video retrieval towers (text + frames; resumes from "
                              "<out_dir>/last)")
        add_mbvr_arguments(m)
        m.set_defaults(func=run_mbvr_command)

    from vcval.corpus.feedback import add_feedback_arguments, run_feedback_command

    p = sub.add_parser("feedback", help="export the app's answer votes as a question set (MedVidQA format)")
    add_feedback_arguments(p)
    p.set_defaults(func=run_feedback_command)

    p = sub.add_parser("serve", help="start the Gradio demo")
    p.add_argument("--corpus", default=None, help="corpus directory (default: the embedded demo corpus)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--runtime", default=None, choices=("auto", "torch", "onnx"),
                   help="what answers (default: $VCVAL_RUNTIME, else auto): auto serves the default model's ONNX "
                        "export on a CPU host when `vcval export` made one, else torch")
    _add_index(p)
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # undecodable bytes in paths/questions must not crash printing
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "train" and not args.verbose:  # minutes of work: show the trainers' progress lines
        logging.getLogger("vcval.training").setLevel(logging.INFO)
    try:
        return int(args.func(args) or 0)
    except VCVALError as err:
        print(_failure_line("", str(err)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, not a traceback (-v shows it)
        if args.verbose:
            raise
        print(f"error: unexpected {type(err).__name__}: {' '.join(str(err).split())[:300]} "
              "(run with -v for details and please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
