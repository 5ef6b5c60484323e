"""CueSpan's time-aligned visual fusion: frames are pooled per unit by time, a model with a visual
branch learns a task only the frames can solve (vcval.training.synthetic), the text-only model cannot,
and a visual checkpoint still serves transcript-only videos and refuses mismatched features."""
from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
import torch
from test_cuespan_localizer import SLING, VOCAB, ToyEncoder, candidate

from vcval.corpus.encodings import encode_units
from vcval.localization.cuespan import CueSpanLocalizer
from vcval.models.cuespan import CueSpanConfig, CueSpanModel, pool_frames
from vcval.training.synthetic import train_and_score_cuespan


def test_pool_frames_means_frames_inside_each_unit_by_time():
    feats = np.arange(10, dtype=np.float32)[:, None]  # frame t at t seconds, value t
    pooled, has = pool_frames(feats, np.array([0.0, 2.2, 8.4, 12.0]), np.array([1.5, 2.6, 9.9, 13.0]))
    assert pooled[:, 0].tolist() == pytest.approx([0.5, 2.0, 9.0, 0.0])  # frames 0-1; nearest 2; frame 9; none
    assert has.tolist() == [True, True, True, False]  # the last unit starts after the last frame
    assert pool_frames(None, np.zeros(2), np.ones(2)) is None


def test_visual_branch_is_needed_and_learned():
    fused = train_and_score_cuespan(use_visual=True)
    text_only = train_and_score_cuespan(use_visual=False)
    assert fused >= 0.8, f"the fused model should find the visually marked span (got {fused:.2f})"
    assert text_only <= 0.35, f"text alone cannot tell the spans apart (got {text_only:.2f})"


def _visual_localizer(dim: int = 4) -> CueSpanLocalizer:
    torch.manual_seed(0)
    model = CueSpanModel(CueSpanConfig(emb_dim=len(VOCAB), hidden=16, ff_dim=32, head_size=8, n_heads=2,
                                       max_span_cues=4, visual_dim=dim))
    return CueSpanLocalizer(model, ToyEncoder())


def test_visual_checkpoint_reads_frames_and_serves_transcript_only_videos(caplog):
    loc = _visual_localizer()
    units = encode_units(SLING, loc.encoder)
    frames = np.random.default_rng(0).normal(size=(int(SLING[-1].end) + 1, 4)).astype(np.float32)
    with_frames = dataclasses.replace(candidate("sling", SLING), features=frames)
    pooled = loc.visual_of(with_frames, units)
    assert pooled is not None and pooled[0].shape == (len(units), 4) and pooled[1].all()
    a_frames = loc.localize("put on a sling", [with_frames], top_n=1)
    a_text = loc.localize("put on a sling", [candidate("sling", SLING)], top_n=1)  # no features: text only
    assert a_frames and a_text and a_frames[0].score != a_text[0].score  # the frames change the scores
    wrong = dataclasses.replace(candidate("sling", SLING), features=np.zeros((20, 7), np.float32))  # another extractor
    with caplog.at_level(logging.WARNING):
        assert loc.visual_of(wrong, units) is None
    assert "do not fit" in caplog.text
