"""The evaluator: question loading, the corpus cache key, the question loop, tables and the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vcval.errors import InvalidInputError, NotFoundError
from vcval.evaluation import Evaluator, evaluate, format_table, load_questions, metric_names
from vcval.evaluation.report import short_name
from vcval.evaluation.runner import content_hash
from vcval.types import Answer

TRANSCRIPTS = {
    "sling": [
        {"start": 0.0, "duration": 5.0, "text": "Today we make an arm sling."},
        {"start": 5.0, "duration": 5.0, "text": "Fold the triangular bandage and place it under the arm."},
        {"start": 10.0, "duration": 5.0, "text": "Tie the sling behind the neck."},
    ],
    "burn": [
        {"start": 0.0, "duration": 4.0, "text": "This video is about burns."},
        {"start": 4.0, "duration": 6.0, "text": "Cool the burn under running water for twenty minutes."},
        {"start": 10.0, "duration": 5.0, "text": "Cover the burn with cling film."},
    ],
    "finger": [
        {"start": 0.0, "duration": 6.0, "text": "Splint a broken finger with tape."},
        {"start": 6.0, "duration": 6.0, "text": "Buddy taping joins it to the next finger."},
    ],
}
QUESTIONS = [
    {"sample_id": 11, "question": "How do I tie an arm sling?", "video_id": "sling",
     "answer_start_second": 5, "answer_end_second": 15, "video_length": 15, "extra": "ignored"},
    {"sample_id": 12, "question": "How long should I cool a burn under water?", "video_id": "burn",
     "answer_start_second": 4, "answer_end_second": 10, "video_length": 15},
]


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("VCVAL_CACHE", str(tmp_path / "cache"))
    tdir = tmp_path / "transcripts"
    tdir.mkdir()
    for vid, cues in TRANSCRIPTS.items():
        (tdir / f"{vid}.json").write_text(json.dumps(cues))
    qpath = tmp_path / "questions.json"
    qpath.write_text(json.dumps(QUESTIONS))
    return qpath, tdir


class FakeCorpus:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


class ScriptedPipeline:
    """Answers each question from a fixed table (or raises), recording the k it was asked for."""

    def __init__(self, table: dict[str, list | Exception]) -> None:
        self.table = table
        self.ks: list[int] = []

    def ask(self, question: str, k: int = 5) -> list[Answer]:
        self.ks.append(k)
        out = self.table[question]
        if isinstance(out, Exception):
            raise out
        return [Answer(v, v, s, e, sc) for v, s, e, sc in out]


# ------------------------------------------------------------------ inputs
def test_load_questions_reads_medvidqa_records(dataset):
    qs = load_questions(dataset[0])
    assert [q.sample_id for q in qs] == [11, 12]
    assert qs[0].gold.video_id == "sling" and (qs[0].gold.start, qs[0].gold.end, qs[0].gold.video_length) == (5, 15, 15)


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ("{}", "non-empty JSON list"),
        ("[]", "non-empty JSON list"),
        (json.dumps([{"question": "q", "video_id": "v", "answer_start_second": 1}]), "answer_end_second"),
        (json.dumps([{"question": "q", "video_id": "v", "answer_start_second": 9, "answer_end_second": 3}]), "start <= end"),
        (json.dumps([{"question": "q", "video_id": "v", "answer_start_second": "x", "answer_end_second": 3}]), "non-numeric"),
    ],
)
def test_load_questions_rejects_bad_files(tmp_path, content, match):
    p = tmp_path / "q.json"
    p.write_text(content)
    with pytest.raises(InvalidInputError, match=match):
        load_questions(p)


def test_missing_inputs_raise_not_found(tmp_path, dataset):
    with pytest.raises(NotFoundError):
        load_questions(tmp_path / "nope.json")
    with pytest.raises(NotFoundError):
        Evaluator(tmp_path / "no_dir")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="no <video_id>.json"):
        Evaluator(empty)


def test_content_hash_tracks_the_folder_contents(dataset, tmp_path):
    _, tdir = dataset
    h = content_hash(tdir)
    assert h == content_hash(tdir) and len(h) == 64
    (tdir / "notes.txt").write_text("not a transcript")
    assert content_hash(tdir) == h  # only <id>.json files count
    (tdir / "burn.json").write_text(json.dumps(TRANSCRIPTS["burn"][:2]))
    assert content_hash(tdir) != h
    feats = tmp_path / "feats"
    feats.mkdir()
    assert content_hash(tdir, feats) == content_hash(tdir)  # an empty features folder adds nothing
    np.save(feats / "burn.npy", np.zeros((15, 4), dtype=np.float32))
    assert content_hash(tdir, feats) != content_hash(tdir)
    ev = Evaluator(tdir)
    assert ev.cache_dir == tmp_path / "cache" / "eval" / content_hash(tdir)


# ------------------------------------------------------------------ the question loop
def test_run_scores_scripted_answers(dataset):
    qpath, tdir = dataset
    pipe = ScriptedPipeline({
        # right video first, span [5, 10] vs gold [5, 15]: IoU 0.5
        QUESTIONS[0]["question"]: [("sling", 5, 10, 0.9), ("burn", 0, 4, 0.5)],
        # wrong video first, then the exact span
        QUESTIONS[1]["question"]: [("finger", 0, 6, 0.8), ("burn", 4, 10, 0.7), ("burn", 0, 1, 0.1)],
    })
    ev = Evaluator(tdir, corpus=FakeCorpus(3))
    report = ev.run(qpath, "scripted", k=2, pipeline=pipe)
    assert pipe.ks == [2, 2]
    assert report.dataset == "questions" and report.n_questions == 2 and report.corpus_size == 3
    m = report.metrics
    assert list(m) == metric_names()
    assert m["R@1"] == 50.0 and m["R@5"] == 100.0 and m["MRR"] == pytest.approx(75.0)
    assert m["Rank@1 IoU=0.5"] == 50.0 and m["Rank@1 IoU=0.7"] == 0.0 and m["Rank@1 mIoU"] == pytest.approx(25.0)
    assert m["Rank@10 IoU=0.7"] == 50.0 and m["Rank@10 mIoU"] == pytest.approx(75.0)
    q0, q1 = report.per_question
    assert q0["sample_id"] == 11 and q0["video_rank"] == 1 and q0["iou_at_1"] == 0.5 and q0["error"] is None
    assert q1["video_rank"] == 2 and q1["gold"] == [4.0, 10.0]
    assert q1["predictions"] == [["finger", 0.0, 6.0, 0.8], ["burn", 4.0, 10.0, 0.7]]  # truncated to k
    assert report.seconds_per_question >= 0.0


def test_seeded_sample_is_reproducible_and_keeps_file_order(dataset, tmp_path):
    _, tdir = dataset
    many = [dict(QUESTIONS[0], sample_id=i, question=f"question {i}") for i in range(20)]
    qpath = tmp_path / "many.json"
    qpath.write_text(json.dumps(many))
    answer = [("sling", 5, 15, 1.0)]
    pipe = ScriptedPipeline({q["question"]: answer for q in many})
    ev = Evaluator(tdir, corpus=FakeCorpus(3))
    ids = lambda r: [q["sample_id"] for q in r.per_question]  # noqa: E731
    a = ev.run(qpath, "scripted", pipeline=pipe, sample=5, seed=1)
    b = ev.run(qpath, "scripted", pipeline=pipe, sample=5, seed=1)
    c = ev.run(qpath, "scripted", pipeline=pipe, sample=5, seed=2)
    assert ids(a) == ids(b) == sorted(ids(a)) and len(ids(a)) == 5 and ids(c) != ids(a)
    assert ids(ev.run(qpath, "scripted", pipeline=pipe, sample=50)) == list(range(20))  # larger than the set: all
    with pytest.raises(InvalidInputError, match="sample"):
        ev.run(qpath, "scripted", pipeline=pipe, sample=0)


def test_run_counts_refused_questions_as_unanswered(dataset):
    qpath, tdir = dataset
    pipe = ScriptedPipeline({
        QUESTIONS[0]["question"]: [("sling", 5, 15, 1.0)],
        QUESTIONS[1]["question"]: InvalidInputError("refused"),
    })
    report = Evaluator(tdir, corpus=FakeCorpus(3)).run(qpath, "scripted", pipeline=pipe)
    assert report.n_errors == 1 and report.per_question[1]["error"].startswith("InvalidInputError")
    assert report.per_question[1]["predictions"] == []
    assert report.metrics["R@1"] == 50.0 and report.metrics["Rank@1 IoU=0.7"] == 50.0


def test_questions_about_absent_videos(dataset, tmp_path):
    qpath, tdir = dataset
    rows = QUESTIONS + [dict(QUESTIONS[0], sample_id=13, video_id="not_in_dir")]
    q2 = tmp_path / "q2.json"
    q2.write_text(json.dumps(rows))
    pipe = ScriptedPipeline({r["question"]: [(r["video_id"], 0, 1, 1.0)] for r in QUESTIONS})
    ev = Evaluator(tdir, corpus=FakeCorpus(3))
    with pytest.raises(InvalidInputError, match="--skip-missing"):
        ev.run(q2, pipeline=pipe)
    assert ev.run(q2, pipeline=pipe, missing="skip").n_questions == 2
    assert ev.run(q2, pipeline=pipe, missing="keep").n_questions == 3
    assert ev.run(q2, pipeline=pipe, missing="skip", limit=1).n_questions == 1


def test_report_json_and_table(dataset, tmp_path):
    qpath, tdir = dataset
    pipe = ScriptedPipeline({r["question"]: [(r["video_id"], 0, 1, 1.0)] for r in QUESTIONS})
    report = Evaluator(tdir, corpus=FakeCorpus(3)).run(qpath, "oracle-video", pipeline=pipe, dataset="toy")
    out = report.save(tmp_path / "out" / "r.json")
    data = json.loads(out.read_text())
    assert set(data["metrics"]) == set(metric_names())
    assert data["per_question"][0]["predictions"][0] == ["sling", 0.0, 1.0, 1.0]
    table = format_table([report, report])
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].startswith("| toy | oracle-video | 2 | 3 | 100.00 |")
    assert all(short_name(m) in lines[0] for m in metric_names())
    assert short_name("Rank@10 IoU=0.5") == "R10@.5" and short_name("Rank@100 mIoU") == "R100 mIoU"


# ------------------------------------------------------------------ integration (real corpus + BM25)
def test_evaluate_end_to_end_bm25_and_cache(dataset, tmp_path):
    pytest.importorskip("vcval.corpus")
    pytest.importorskip("vcval.retrieval")
    qpath, tdir = dataset
    report = evaluate(qpath, tdir, method="bm25", k=10, json_out=tmp_path / "r.json")
    assert report.corpus_size == 3 and report.n_questions == 2
    assert report.metrics["R@1"] == 100.0  # lexically easy questions
    assert all(p[0] in TRANSCRIPTS for q in report.per_question for p in q["predictions"])
    assert (tmp_path / "r.json").exists()
    # second run reuses the cached corpus
    ev = Evaluator(tdir)
    assert ev.cache_dir.exists()
    assert len(ev.corpus) == 3


def test_second_process_waits_for_the_eval_corpus_build_then_reuses_it(dataset):
    """Two runs over the same transcripts (two trainings started together) used to race: the second one
    failed with DuplicateVideoError on the videos the first had committed. Now it waits on a build lock."""
    import threading

    from vcval.corpus.files import FileLock

    _, tdir = dataset
    ev = Evaluator(tdir)
    holder = FileLock(ev.cache_dir.parent / f"{ev.cache_dir.name}.build.lock")
    ev.cache_dir.parent.mkdir(parents=True, exist_ok=True)
    assert holder.acquire(timeout=0)  # "another process" is building
    sizes: list[int] = []
    t = threading.Thread(target=lambda: sizes.append(len(ev.corpus)))
    t.start()
    t.join(timeout=0.5)
    assert t.is_alive() and not (ev.cache_dir / "corpus.sqlite").exists()  # waiting, building nothing
    first = Evaluator(tdir)
    first._build_corpus()  # what the holder does meanwhile: build the whole cache
    holder.release()
    t.join(timeout=60)
    assert sizes == [3]  # the waiter reused the cache: nothing failed, nothing added twice


def test_cli_eval_prints_table(dataset, tmp_path, capsys):
    pytest.importorskip("vcval.corpus")
    pytest.importorskip("vcval.retrieval")
    from vcval.cli import main

    qpath, tdir = dataset
    rc = main(["eval", "--questions", str(qpath), "--transcripts", str(tdir), "--method", "bm25",
               "--k", "5", "--json", str(tmp_path / "cli.json")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| questions | bm25 | 2 | 3 |" in out and "R100 mIoU" in out
    assert json.loads((tmp_path / "cli.json").read_text())["k"] == 5


def test_retrieval_confusions_counts_unordered_pairs():
    """scripts/retrieval_confusions.py: misses grouped by unordered pair, R@1, and R@1 with the pairs merged."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "retrieval_confusions", Path(__file__).resolve().parents[1] / "scripts" / "retrieval_confusions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pairs = [("a", "a"), ("a", "b"), ("b", "a"), ("c", "d"), ("c", "c"), ("e", "")]
    common, r1, merged = module.confusions(pairs, top=1)
    assert common == [(frozenset({"a", "b"}), 2)]
    assert r1 == pytest.approx(100 * 2 / 6) and merged == pytest.approx(100 * 4 / 6)
    assert module.confusions([], top=3) == ([], 0.0, 0.0)


def test_cuespan_report_video_calibration_section():
    """scripts/make_cuespan_report.py: the video-confidence section from calibration.json; none for old reports."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "make_cuespan_report", Path(__file__).resolve().parents[1] / "scripts" / "make_cuespan_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.video_calibration_text({"ece_rank1": 0.01}) == []
    cal = {"video_ece_rank1": 0.018, "video_ece_all_answers": 0.012, "balanced_accuracy": 0.814,
           "balanced_accuracy_if_gated_on_video_confidence": 0.854,
           "video_reliability_rank1": [{"bin": "0.9-1.0", "n": 108, "confidence": 0.935, "accuracy": 0.926}]}
    text = "\n".join(module.video_calibration_text(cal))
    assert "ECE (rank-1, in-sample dev): 0.018" in text and "0.854 (against 0.814)" in text
    assert "| 0.9-1.0 | 108 | 0.935 | 0.926 |" in text
