"""Baseline localizer: span search and cross-video ranking, with a deterministic toy embedder."""
from __future__ import annotations

import numpy as np
import pytest

from vcval.localization.base import Candidate
from vcval.localization.baseline import BaselineLocalizer, content_words
from vcval.localization.prior import SpanPrior
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


def test_span_scores_mask_end_before_start_and_max_length():
    cues = make_cues(["a", "b", "c", "d"])  # 5 s each
    loc = BaselineLocalizer(toy_embed, max_span_seconds=10.0, prior=None)
    scores = loc.span_scores(np.array([0.1, 0.9, 0.8, 0.1]), cues)
    assert scores.shape == (4, 4)
    assert np.all(np.isneginf(scores[np.tril_indices(4, -1)]))  # end before start
    assert np.isneginf(scores[0, 2]) and np.isfinite(scores[0, 1])  # 15 s > 10 s, 10 s ok
    assert np.unravel_index(np.argmax(scores), scores.shape) == (1, 2)


def test_spans_are_non_overlapping_and_single_cue_video_works():
    loc = BaselineLocalizer(toy_embed, prior=None)
    cues = make_cues(["a", "b", "c", "d", "e", "f"])
    spans = loc.spans_for_video(np.array([0.0, 1.0, 0.9, 0.0, 0.0, 0.8]), cues, 3)
    assert spans[0][:2] == (1, 2)
    covered = [set(range(first, last + 1)) for first, last, _ in spans]
    assert all(not (x & y) for i, x in enumerate(covered) for y in covered[i + 1 :])
    assert loc.spans_for_video(np.array([0.3]), make_cues(["only"]), 3) == [(0, 0, pytest.approx(-0.5))]


def test_prior_prefers_typical_answer_length_and_position():
    prior = SpanPrior()
    start = np.array([0.0, 200.0, 200.0])
    end = np.array([50.0, 250.0, 205.0])
    lp = prior.log_prob(start, end, duration=450.0)
    assert lp[1] > lp[0]  # same length, centred in the video beats the very start
    assert lp[1] > lp[2]  # 50 s beats 5 s (median answer is ~51 s)


def test_content_words_drops_stopwords_and_plural():
    assert content_words("How do I put on the slings?") == {"put", "sling"}


def test_localize_finds_span_and_keeps_retrieval_order():
    sling = make_cues(["hello", "hello there", "fold the sling", "put the arm in the sling", "goodbye", "goodbye"])
    burn = make_cues(["hello", "cool the burn under water", "goodbye"])
    cands = [
        Candidate(make_record("sling", 6), sling, None, 2.0),
        Candidate(make_record("burn", 3), burn, None, 1.0),
    ]
    loc = BaselineLocalizer(toy_embed, context=0, prior=None)
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
