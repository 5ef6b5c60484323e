"""Sentences about the video itself (vcval.localization.meta_discourse); CueSpan's ``meta_edges`` is tested
in test_cuespan_localizer.py."""
from __future__ import annotations

import pytest

from vcval.localization.meta_discourse import is_meta, meta_mask
from vcval.types import Cue


@pytest.mark.parametrize("text", [
    "- Today we're gonna show you how to fix wrist pain,",
    "So, if you're new to our channel please take a second to subscribe to us.",
    "Don't forget to hit the like button and the notification bell.",
    "Go to our website, we're giving away a massage gun this week.",
    "This video is sponsored by a first aid kit company.",
    "The links are in the description below.",
    ">> In this video, we'll use the Spot Healing Brush to remove objects.",
    "Hi everyone, I'm Dr. Jo, a physiotherapist.",
    "Welcome back to the channel.",
    "Thanks for watching, and see you next time.",
    "In the next video, you'll learn how to sharpen your image.",
    "Follow us on Instagram for daily tips.",
])
def test_talk_about_the_video_is_meta(text):
    assert is_meta(text)


@pytest.mark.parametrize("text", [
    "Pinch the soft part of your nose for ten minutes.",
    "You're welcome to use whichever method is most comfortable.",  # "welcome to" inside a sentence
    "Now turn off the layers we added in this video.",  # a mid-sentence reference, not an announcement
    "Export it so you can upload it to your blog, Facebook, or anywhere else.",  # a platform as content
    "If you're a Creative Cloud subscriber, you have access to the fonts.",
    "Check the channel of the bandage for kinks.",
    "Today the wound should be kept dry.",
    "",
])
def test_talk_about_the_subject_is_not_meta(text):
    assert not is_meta(text)


def test_meta_mask_flags_each_unit():
    units = [Cue(i, i, i + 1, t) for i, t in enumerate(["Welcome to the channel.", "Take the sling.", "Thanks for watching."])]
    assert meta_mask(units).tolist() == [True, False, True]
    assert meta_mask([]).shape == (0,)


def test_cue_text_is_read_whitespace_insensitively():
    assert is_meta("Thanks   for\nwatching")
    assert is_meta(Cue(0, 0.0, 1.0, "SUBSCRIBE NOW").text)
