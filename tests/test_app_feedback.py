"""Answer feedback: votes in the corpus database, exported as a MedVidQA question set that `vcval eval` reads."""
from __future__ import annotations

import json
import sqlite3

import pytest

from vcval.cli import main
from vcval.corpus.feedback import FeedbackStore, export_questions
from vcval.errors import InvalidInputError, NotFoundError
from vcval.evaluation.questions import load_questions


@pytest.fixture
def corpus_dir(tmp_path):
    """A directory with a minimal catalog (the feedback table is created lazily beside it)."""
    root = tmp_path / "corpus"
    root.mkdir()
    db = sqlite3.connect(root / "corpus.sqlite")
    db.execute("CREATE TABLE videos (video_id TEXT, duration REAL)")
    db.execute("INSERT INTO videos VALUES ('sling', 61.5), ('nose', 30.0)")
    db.commit()
    db.close()
    return root


def _tables(root):
    db = sqlite3.connect(root / "corpus.sqlite")
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def test_votes_are_stored_lazily_and_read_back(corpus_dir):
    store = FeedbackStore(corpus_dir)
    assert store.all() == [] and "feedback" not in _tables(corpus_dir)
    up = store.record("How do I tie a sling?", "sling", 10.0, 20.0, 1, confidence=0.8)
    assert "feedback" in _tables(corpus_dir)
    down = store.record("How do I stop a nosebleed?", "nose", 0.0, 5.0, -1, right_start=6.0, right_end=12.5)
    votes = store.all()
    assert [v.id for v in votes] == [up.id, down.id]
    assert votes[0].label() == (10.0, 20.0) and votes[1].label() == (6.0, 12.5)
    assert votes[0].confidence == pytest.approx(0.8)


@pytest.mark.parametrize("kwargs, match", [
    ({"rating": 0}, "rating"),
    ({"question": "  "}, "question"),
    ({"question": "x" * 2001}, "longer than"),
    ({"start": float("nan")}, "start"),
    ({"right_start": 5.0}, "both ends"),
    ({"right_start": 9.0, "right_end": 3.0}, "end after"),
])
def test_bad_votes_are_refused(corpus_dir, kwargs, match):
    args = {"question": "q?", "video_id": "sling", "start": 1.0, "end": 2.0, "rating": 1, **kwargs}
    rating = args.pop("rating")
    with pytest.raises(InvalidInputError, match=match):
        FeedbackStore(corpus_dir).record(args.pop("question"), args.pop("video_id"), args.pop("start"),
                                         args.pop("end"), rating, **args)
    assert FeedbackStore(corpus_dir).all() == []


def test_export_is_a_question_set_eval_reads(corpus_dir, tmp_path, capsys):
    store = FeedbackStore(corpus_dir)
    store.record("How do I tie a sling?", "sling", 10.0, 20.0, 1)
    store.record("How do I stop a nosebleed?", "nose", 0.0, 5.0, -1)  # no label: skipped
    store.record("How do I pinch my nose?", "nose", 0.0, 5.0, -1, right_start=6.0, right_end=12.5)
    store.record("How do I tie a sling?", "sling", 10.0, 20.0, -1)  # withdraws the thumbs-up on that span
    store.record("Where does the knot go?", "sling", 30.0, 41.0, 1)
    out = tmp_path / "fb" / "questions.json"
    assert main(["feedback", "export", "--corpus", str(corpus_dir), "--out", str(out)]) == 0
    assert "wrote 2 question(s) from 5 vote(s)" in capsys.readouterr().out
    rows = json.loads(out.read_text(encoding="utf-8"))
    qs = load_questions(out)
    assert [(q.question, q.video_id, q.start, q.end) for q in qs] == [
        ("How do I pinch my nose?", "nose", 6.0, 12.5), ("Where does the knot go?", "sling", 30.0, 41.0)]
    assert qs[1].video_length == 61.5 and rows[0]["sample_id"].startswith("feedback-")


def test_export_errors(corpus_dir, tmp_path, capsys):
    with pytest.raises(NotFoundError):
        export_questions(tmp_path / "nope", tmp_path / "q.json")
    assert not (tmp_path / "nope").exists()
    FeedbackStore(corpus_dir).record("q?", "sling", 0.0, 1.0, -1)
    with pytest.raises(InvalidInputError, match="no usable feedback"):
        export_questions(corpus_dir, tmp_path / "q.json")
    assert main(["feedback", "export", "--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "q.json")]) == 2
    assert "not a vcval corpus" in capsys.readouterr().err
