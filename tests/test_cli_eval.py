"""`vcval eval`: the progress bar (questions done / total, questions per second) and --quiet."""
from __future__ import annotations

import io
import json
import sys

import pytest

from vcval.evaluation.questions import Question
from vcval.evaluation.runner import Evaluator, question_progress
from vcval.types import Answer


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Pipeline:
    def ask(self, question: str, k: int = 5) -> list[Answer]:
        return [Answer("sling01", "Sling", 4.0, 9.0, 1.0)]


class _Corpus:
    def __len__(self) -> int:
        return 2


@pytest.fixture
def evaluator(tmp_path) -> Evaluator:
    folder = tmp_path / "transcripts"
    folder.mkdir()
    for vid in ("sling01", "burn01"):
        (folder / f"{vid}.json").write_text(json.dumps([{"start": 0.0, "duration": 5.0, "text": "some words"}]))
    return Evaluator(folder, cache_dir=tmp_path / "cache", corpus=_Corpus())


QUESTIONS = [Question(f"question {i}", "sling01" if i % 2 else "burn01", 4.0, 9.0) for i in range(5)]


def test_run_reports_progress_from_zero_to_total(evaluator):
    calls: list[tuple[int, int]] = []
    report = evaluator.run(QUESTIONS, "hybrid", k=5, pipeline=_Pipeline(), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert report.n_questions == 5


def test_progress_bar_on_a_terminal_shows_count_and_rate(evaluator, monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with question_progress() as progress:
        assert progress is not None
        evaluator.run(QUESTIONS, "hybrid", k=5, pipeline=_Pipeline(), progress=progress)
    drawn = term.getvalue()
    assert "5/5" in drawn and "questions/s" in drawn


@pytest.mark.parametrize("enabled, tty", [(True, False), (False, True)])
def test_no_bar_when_quiet_or_not_a_terminal(monkeypatch, enabled, tty):
    stream = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    with question_progress(enabled) as progress:
        assert progress is None
    assert stream.getvalue() == ""


def test_eval_command_has_quiet():
    from vcval.cli import build_parser

    args = build_parser().parse_args(["eval", "--questions", "q.json", "--transcripts", "t", "--quiet"])
    assert args.quiet is True
    args = build_parser().parse_args(["eval", "--questions", "q.json", "--transcripts", "t"])
    assert args.quiet is False
