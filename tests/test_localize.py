"""Baseline localizer: span search and cross-video ranking, with a deterministic toy embedder."""
from __future__ import annotations

import numpy as np
import pytest

from vcval.localize import BaselineLocalizer, Candidate, best_span, content_words
from vcval.types import Cue, VideoRecord

VOCAB = ["sling", "arm", "burn", "water", "finger", "tape", "hello", "goodbye"]


def toy_embed(texts: list[str]) -> np.ndarray:
    """Bag-of-words over VOCAB, L2-normalized: (N, len(VOCAB))."""
    out = np.zeros((len(texts), len(VOCAB)), dtype=np.float32)
    for i, t in enumerate(texts):
        for j, w in enumerate(VOCAB):
            out[i, j] = t.lower().count(w)
        out[i] /= max(1e-6, np.linalg.norm(out[i]))
    return out


def make_record(video_id: str, n: int) -> VideoRecord:
    return VideoRecord(video_id, video_id.title(), float(n * 5), "test", "transcript", video_id, n)


def make_cues(texts: list[str]) -> list[Cue]:
    return [Cue(i, i * 5.0, i * 5.0 + 5.0, t) for i, t in enumerate(texts)]


def test_best_span_picks_max_gain_run():
    scores = np.array([0.0, 1.0, 0.9, 0.1, 1.0, 0.0])
    assert best_span(scores, threshold=0.5, max_len=10) == (1, 4, pytest.approx(1.0))  # bridges the dip
    assert best_span(scores, threshold=0.6, max_len=10) == (1, 2, pytest.approx(0.7))  # dip too deep


def test_best_span_respects_max_len_and_ties_go_first():
    scores = np.array([1.0, 1.0, 1.0, 1.0])
    first, last, _ = best_span(scores, threshold=0.5, max_len=2)
    assert (first, last) == (0, 1)


def test_best_span_single_cue_and_all_below_threshold():
    assert best_span(np.array([0.2]), 0.9, 5)[:2] == (0, 0)
    first, last, gain = best_span(np.array([0.1, 0.3, 0.2]), 0.9, 5)
    assert (first, last) == (1, 1) and gain < 0


def test_best_span_empty_raises():
    with pytest.raises(ValueError):
        best_span(np.array([]), 0.0, 3)


def test_content_words_drops_stopwords_and_plural():
    assert content_words("How do I put on the slings?") == {"put", "sling"}


def test_localize_finds_span_and_keeps_retrieval_order():
    sling = make_cues(["hello", "hello there", "fold the sling", "put the arm in the sling", "goodbye", "goodbye"])
    burn = make_cues(["hello", "cool the burn under water", "goodbye"])
    cands = [
        Candidate(make_record("sling", 6), sling, None, 2.0),
        Candidate(make_record("burn", 3), burn, None, 1.0),
    ]
    loc = BaselineLocalizer(toy_embed, context=0)
    answers = loc.localize("how to put on a sling on the arm", cands, top_n=4)
    assert answers[0].video_id == "sling"
    assert [c.index for c in answers[0].cues] == [2, 3]
    assert (answers[0].start, answers[0].end) == (10.0, 20.0)
    assert answers[1].video_id == "burn"  # every video's best span before any second span
    assert all(a.score >= b.score for a, b in zip(answers, answers[1:]))
    assert len(answers) == 4


def test_localize_video_without_cues_answers_whole_video():
    rec = VideoRecord("silent", "Silent", 30.0, "test", "none", "h", 0)
    answers = BaselineLocalizer(toy_embed).localize("sling", [Candidate(rec, [], None, 1.0)], top_n=3)
    assert len(answers) == 1 and (answers[0].start, answers[0].end) == (0.0, 30.0)


def test_localize_caches_cue_vectors_per_video():
    calls = []

    def counting_embed(texts):
        calls.append(len(texts))
        return toy_embed(texts)

    cues = make_cues(["sling", "arm", "burn"])
    cand = Candidate(make_record("v", 3), cues, None, 1.0)
    loc = BaselineLocalizer(counting_embed)
    loc.localize("sling", [cand])
    loc.localize("burn", [cand])
    assert calls == [1, 3, 1]  # question, cues (once), question
