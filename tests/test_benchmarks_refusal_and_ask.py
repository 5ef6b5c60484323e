"""The benchmark scripts' pure parts: question files, refusal summary, synthetic corpus generator."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_ask  # noqa: E402
import bench_key_sentence  # noqa: E402
import bench_refusal  # noqa: E402
from benchlib import Labelled, percentile, unanswerable  # noqa: E402

from vcval.evaluation.questions import seeded_sample  # noqa: E402


@pytest.mark.parametrize("name", ["demo_offtopic.json", "tutorialvqa_offtopic.json"])
def test_unanswerable_question_files(name):
    rows = unanswerable(BENCH / "questions" / name)
    kinds = [r["kind"] for r in rows]
    assert 35 <= kinds.count("off-topic") <= 45
    assert 25 <= kinds.count("near-miss") <= 35
    texts = [" ".join(r["question"].lower().split()) for r in rows]
    assert len(set(texts)) == len(texts)


def test_demo_near_misses_are_not_demo_questions():
    demo = {q["question"].lower() for q in json.loads((BENCH.parent / "assets/demo/questions.json").read_text())}
    assert not demo & {r["question"].lower() for r in unanswerable(BENCH / "questions" / "demo_offtopic.json")}


def test_unanswerable_rejects_bad_kind(tmp_path):
    p = tmp_path / "q.json"
    p.write_text(json.dumps([{"question": "x", "kind": "maybe"}]))
    with pytest.raises(ValueError, match="kind"):
        unanswerable(p)


def test_percentile_and_sample():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5.0], 95) == 5.0
    assert seeded_sample(range(10), 3, 0) == seeded_sample(range(10), 3, 0)
    assert seeded_sample(range(10), None, 0) == list(range(10))


def test_key_sentence_rules():
    import numpy as np

    vec, ctx, words = np.array([0.1, 0.5, 0.4]), np.array([0.9, 0.1, 0.2]), np.array([0.0, 0.0, 0.2])
    assert bench_key_sentence.rule_picks(vec, ctx, words) == {"first": 0, "cosine": 1, "context": 0,
                                                              "cosine+words": 2}


def _o(kind, answered=True, confident=None, confidence=None, right=None):
    return bench_refusal.Outcome("q", kind, answered=answered, confident=confident, confidence=confidence, right=right)


def test_summary_row_uncalibrated_is_na():
    rows = [_o("real", right=True), _o("real", right=False), _o("off-topic"), _o("near-miss", answered=False)]
    row = bench_refusal.summary_row("hybrid", rows)
    assert row[1] == row[2] == "n/a"
    assert row[3].startswith("1/2")
    assert row[4] == row[5] == row[6] == "n/a"
    assert row[7] == "n/a / n/a / n/a"


def test_summary_row_calibrated():
    rows = [_o("real", confident=True, confidence=0.9, right=True),
            _o("real", confident=True, confidence=0.8, right=False),
            _o("real", confident=False, confidence=0.1, right=True),
            _o("off-topic", confident=False, confidence=0.05),
            _o("off-topic", answered=False),
            _o("near-miss", confident=True, confidence=0.7)]
    row = bench_refusal.summary_row("default", rows)
    assert row[1].startswith("2/3") and row[2].startswith("1/2") and row[3].startswith("2/3")
    assert row[4].startswith("2/2") and row[5].startswith("0/1") and row[6].startswith("2/3")
    assert row[8] == "n/a"  # no video confidence


def test_video_calibration_cell():
    """Mean video confidence vs the share of top answers in the right video; unanswerable ones never are."""
    def o(kind, video, p, expected="v1"):
        return bench_refusal.Outcome("q", kind, video_id=video, answered=True, confident=True, confidence=0.1,
                                     video_confidence=p, expected=[expected, 0.0, 1.0] if kind == "real" else [])

    rows = [o("real", "v1", 0.9), o("real", "v2", 0.5), o("off-topic", "v1", 0.1), o("near-miss", "v3", 0.1)]
    # real: mean 0.7, 1 of 2 right; unanswerable: 0.1, none; bins: 0.9 -> 1 (0.1), 0.5 -> 0 (0.5), 0.1 x2 -> 0
    cell = "70.0% / 50.0%; 10.0% / 0.0% (ECE 0.200)"
    assert bench_refusal.video_calibration(rows) == cell and bench_refusal.summary_row("default", rows)[8] == cell
    rows.append(bench_refusal.Outcome("q", "real", answered=False))  # no answer: left out
    assert bench_refusal.video_calibration(rows) == cell
    assert bench_refusal.video_calibration(rows[:2]) == "70.0% / 50.0%; – (ECE 0.300)"


def _sources():
    def video(tag, n):
        return [{"start": 2.0 * i, "duration": 1.5 + (i % 3), "text": f"{tag} sentence {i}"} for i in range(n)]

    a = {f"a{i}": video(f"a{i}", 10 + i) for i in range(6)}
    b = {f"b{i}": video(f"b{i}", 30 + i) for i in range(4)}
    qa = [Labelled(f"question about a{i}", f"a{i}", 1.0, 5.0) for i in range(6)]
    qb = [Labelled(f"question {j} about b{i}", f"b{i}", 2.0, 9.0) for i in range(4) for j in range(4)]
    return {"a": (a, qa), "b": (b, qb)}


def test_synthesize_is_reproducible_and_keeps_planted_videos():
    src = _sources()
    v1, q1, info = bench_ask.synthesize(src, 40, 3, 2)
    v2, q2, _ = bench_ask.synthesize(src, 40, 3, 2)
    assert v1 == v2 and q1 == q2
    assert len(v1) == 40 and info["planted_videos"] == 4
    planted = {vid for vid in v1 if not vid.startswith("syn-")}
    assert {q.video_id for q in q1} == planted
    assert sum(q.video_id.startswith("b") for q in q1) == 6  # at most 3 questions per planted video
    for vid in planted:  # unchanged, and their cues are lent to no synthetic video
        source = src["a"][0] if vid.startswith("a") else src["b"][0]
        assert v1[vid] == source[vid]
        texts = {c["text"] for c in source[vid]}
        assert not any(c["text"] in texts for sid, cues in v1.items() if sid.startswith("syn-") for c in cues)
    assert bench_ask.synthesize(src, 40, 4, 2)[0] != v1


def test_synth_video_timing_is_monotone():
    import random

    pool = [v for v in _sources()["b"][0].values()]
    cues = bench_ask.synth_video(random.Random(0), pool, 50)
    assert len(cues) == 50
    starts = [c["start"] for c in cues]
    assert starts == sorted(starts) and starts[0] == 0.0


def test_app_bench_table_compares_each_runtime_with_torch(monkeypatch):
    import bench_app

    runs = {"torch": {"ready_s": 8.0, "rss_mb": 500.0, "torch": True, "tops": ["a", "b"],
                      "times": [(0, 0.05), (0, 0.05), (1, 0.02), (1, 0.04)], "encoder": "_BertForward"},
            "auto": {"ready_s": 6.0, "rss_mb": 400.0, "torch": False, "tops": ["a", "c"],
                     "times": [(0, 0.04), (0, 0.04), (1, 0.015), (1, 0.015)], "encoder": "OrtBertForward"}}
    monkeypatch.setattr(bench_app, "run_app", lambda runtime, corpus_dir, questions: runs[runtime])
    lines = bench_app.table("demo", None, ["q1", "q2"]).splitlines()
    torch_row, onnx_row = (line.split(" | ") for line in lines[-2:])
    assert torch_row[1:6] == ["8.0", "1.00", "500", "1.00", "yes"]
    assert onnx_row[1:6] == ["6.0", "0.75", "400", "0.80", "no"]
    assert onnx_row[7:10] == ["15.0", "15.0", "0.50"]  # second-pass p50 15 ms against torch's 30 ms
    assert onnx_row[-1].rstrip(" |") == "1/2"  # the same top video as torch for one question of two


def test_medvidqa_unanswerable_questions_are_near_misses_plus_the_demo_off_topic_ones():
    rows = unanswerable(BENCH / "questions" / "medvidqa_offtopic.json")
    near = [r["question"] for r in rows if r["kind"] == "near-miss"]
    off = [r["question"] for r in rows if r["kind"] == "off-topic"]
    demo_off = [r["question"] for r in unanswerable(BENCH / "questions" / "demo_offtopic.json")
                if r["kind"] == "off-topic"]
    assert len(near) == 30 and len(set(near)) == 30 and off == demo_off
    medvidqa = BENCH.parent / "data" / "medvidqa" / "questions_with_transcripts.json"
    if medvidqa.is_file():  # written by scripts/convert_medvidqa.py
        real = {q["question"].strip().lower() for q in json.loads(medvidqa.read_text())}
        assert not real & {q.lower() for q in near}
