"""The visual branch is really used: a synthetic task where ONLY the visual features tell the
answer span apart (same text in every cue, one fixed question, uniform answer position; see
vcval.training.synthetic). A tiny CCGS learns it in seconds; the same model trained text-only cannot."""
from __future__ import annotations

from vcval.training.synthetic import train_and_score


def test_visual_features_are_needed_and_learned():
    fused = train_and_score(use_visual=True)
    text_only = train_and_score(use_visual=False)
    assert fused >= 0.8, f"the fused model should find the visually marked span (got {fused:.2f})"
    assert text_only <= 0.35, f"text alone cannot tell the spans apart (got {text_only:.2f})"
