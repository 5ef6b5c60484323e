"""Sentences about the video rather than its subject: channel promotion, greetings, announcements, sign-offs.

Instructional videos, medical ones on YouTube above all, wrap their content in talk about the video
itself: "Today we're gonna show you how to fix wrist pain", "if you're new to our channel please take a
second to subscribe", "go to our website, we're giving away a massage gun", "thanks for watching". Such a
sentence never *is* the answer to "how do I ...", yet it is often the sentence that matches the question
best: an announcement restates the video's topic, which is the question's topic. A localizer that plays
from it opens the clip on a sales pitch, or plays the introduction instead of the step asked for.

:func:`is_meta` flags such a sentence from its words alone: a short list of phrasings, written before
measuring anything and checked for false alarms on TutorialVQA train and dev transcripts only, never fitted
to a score; :func:`meta_mask` flags every unit of a video. The CueSpan
localizer's ``meta_edges`` (``CueSpanInference``) then lets no answer start or end on a flagged unit: a
clip may pass through a "don't forget to subscribe" in the middle of a procedure, but never opens or
closes on one. The rule is conservative: a sentence is flagged only by a phrase that talks about the
video, the channel or the viewer's next action on the platform, not by a topic word.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from vcval.types import Cue

_PATTERNS = [
    # channel promotion and calls to action
    r"\bsubscrib(e|ed|ing)\b",
    r"\b(our|my|this) (youtube )?channel\b",
    r"\bnotifications? bell\b",
    r"\bhit (the|that) (like|bell|subscribe|thumbs)",
    r"\b(like|thumbs up|share) (this|our|my) videos?\b",
    r"\b(us|me) on (facebook|instagram|twitter|tiktok|patreon|snapchat|youtube)\b",
    r"\bgiv(e|ing) ?away\b",
    r"\bsponsor(ed|s)?\b",
    r"\b(in|into|check) the description\b",
    r"\bdescription (box|below)\b",
    r"\blinks? (is |are )?(below|down below)\b",
    r"\b(leave|drop) (us |me )?a comment\b",
    r"\bcomments? (below|section)\b",
    r"\b(our|my) website\b",
    r"\bwww\.|\b[a-z0-9-]+\.(com|org|net)\b",
    # greetings and announcements of what the video will do (at the start of the sentence)
    r"^(hi|hello|hey|so|and|now|okay|ok|well)?\W*welcome (back )?to\b",
    r"^(so|and|now|okay|ok|well)?\W*(in|for) (this|today's|the next|our next|this short|this quick) "
    r"(video|episode|tutorial|lesson)\b",
    r"^(so|and|now|okay|ok|well|alright|all right)?\W*today,? (we|i)( a|')?(re|m| am| will|ll| want to| wanna|"
    r" are going to| are gonna)\b.{0,20}\b(show|talk|going|gonna|look|teach|demonstrate|discuss|cover|explain)",
    r"^(hi|hello|hey)( there| guys| everyone| everybody| folks)?\W+(i'm|i am|my name|this is|we're|we are)\b",
    # sign-offs
    r"\bthanks? (you )?(so much )?for (watching|listening|joining)\b",
    r"\bsee you (next time|in the next|soon)\b",
    r"\b(next|upcoming) (video|episode)s?\b",
]
_META = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
# Every pattern above contains one of these: a sentence without any is not meta, found without the regex
# (which costs about 20 times as much, and most sentences have none).
_KEYWORDS = ("subscrib", "channel", "bell", "video", "facebook", "instagram", "twitter", "tiktok", "patreon",
             "snapchat", "youtube", "away", "sponsor", "description", "link", "comment", "website", "www.", ".com",
             ".org", ".net", "welcome", "episode", "tutorial", "lesson", "today", "hi ", "hi,", "hello", "hey",
             "thank", "see you")
_LEAD = re.compile(r"^[\W_]+")  # speaker marks and dashes of captions: ">> ", "- "


def is_meta(text: str) -> bool:
    """True when ``text`` talks about the video, the channel or the platform (see module doc)."""
    text = " ".join(text.split())
    lower = text.lower()
    if not any(k in lower for k in _KEYWORDS):
        return False
    return bool(_META.search(_LEAD.sub("", text)))


def meta_mask(units: Sequence[Cue]) -> np.ndarray:
    """(U,) bool: :func:`is_meta` of each unit's text."""
    return np.array([is_meta(u.text) for u in units], dtype=bool)
