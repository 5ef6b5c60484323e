"""What kind of answer a question asks for: a whole procedure, one fact, or either.

Instructional-video questions come in two shapes. "How do I put on a sling?" asks for a procedure: the
answer is every step, often most of a minute. "Where should the knot go?", "How long should I pinch my
nose?" or "Should I tilt my head back?" ask for one fact: the answer is the sentence or two that state
it. No training set here tells the two apart (TutorialVQA answers are ~30 s segments and PsTuts ~5 s
whatever the question; MedVidQA's 2,855 train/val questions are 98% "how to/can/should/do ..."), so the
learned span lengths follow the data set, not the question. This rule supplies the missing signal from
the question's form alone; :class:`vcval.localization.cuespan.CueSpanInference` ``fact_max_units`` then
keeps a fact question's spans to a sentence or two.

The rule is deliberately conservative: only forms that cannot ask for a procedure are ``"fact"``
(quantity "how long / often / many / much / far / fast / deep / tight / soon / hard / big / high",
"where", "when", "which", "who", "whose", "why", and yes/no questions such as "should I ..." or "is it
..."). A question that says "how" anywhere, asks for a way, a method or steps, or asks whether one *can*
do something ("can I align layers?" means "how do I") is a procedure. "what" questions ("what should I
do first ...") are ``"open"``. Procedure and open questions keep the model's own lengths.

:func:`step_of` reads a second thing off the form: the step of a "how ... <step> to <goal>?" question, whose
goal restates the video's topic; ``CueSpanInference.goal_split`` places spans by the step alone.
"""
from __future__ import annotations

import re
from typing import Literal

QuestionForm = Literal["procedure", "fact", "open"]

QUANTITY_WORDS = frozenset({"long", "often", "many", "much", "far", "fast", "deep", "tight", "soon", "hard",
                            "big", "high", "hot", "cold", "old", "large", "frequently"})
FACT_WH = frozenset({"where", "when", "which", "who", "whose", "whom", "why"})
YES_NO = frozenset({"should", "can", "could", "is", "are", "do", "does", "did", "will", "would", "may", "might",
                    "must", "shall", "was", "were", "has", "have", "am"})
ABILITY = frozenset({"can", "could"})
METHOD_WORDS = frozenset({"way", "ways", "possible", "steps", "procedure", "method", "technique"})
_LEAD = re.compile(r"^(?:\d+[.)]|q\)|q:|question:|(?:and|so|ok|okay|please|also|then)\b)\s*")
_WORD = re.compile(r"[a-z']+")


def question_form(question: str) -> QuestionForm:
    """``"fact"``, ``"procedure"`` or ``"open"`` for an English question (see module doc)."""
    text = question.lower().strip()
    previous = None
    while previous != text:  # "Q) and how long ..." -> "how long ..."
        previous, text = text, _LEAD.sub("", text).strip()
    words = _WORD.findall(text)
    if not words:
        return "open"
    first = words[0]
    if first == "how" and len(words) > 1 and words[1] in QUANTITY_WORDS:
        return "fact"
    if "how" in words or METHOD_WORDS & set(words):  # "when I'm done, how do I ...", "is there a way to ..."
        return "procedure"
    if first in FACT_WH:
        return "fact"
    if first in YES_NO:
        return "procedure" if first in ABILITY else "fact"  # "can I align layers?" asks how
    return "open"


# --------------------------------------------------------------------------- step and goal
# "How to <step> to <goal>?": the purpose clause states why, and in a medical video the why is the video's topic
# ("... to relieve wrist pain"), which its introduction and overview repeat. 27% of the 2,710 MedVidQA train
# questions have one, 1% of TutorialVQA dev's. The step alone says what to play.
_NOT_VERB = frozenset({"a", "an", "the", "your", "my", "his", "her", "their", "its", "our", "this", "that", "these",
                       "those", "one", "it", "them", "him", "me", "us", "you", "each", "every", "all", "any", "some",
                       "another", "other", "both", "which", "what", "where", "whom", "who", "be"})
_BEFORE_INFINITIVE = frozenset({"able", "possible", "want", "wants", "need", "needs", "have", "has", "had", "going",
                                "like", "used", "supposed", "try", "trying", "tries", "ought", "how", "way", "easy",
                                "easier", "best", "wish", "meant", "allowed", "needed", "where", "when", "what"})
_NOT_CONTENT = frozenset({"how", "do", "does", "did", "can", "could", "should", "would", "will", "you", "your", "the",
                          "and", "for", "with", "are", "is", "was", "were", "able", "there", "that", "this", "what",
                          "which", "who", "she", "him", "her", "his", "they", "them", "one", "use"})
_HOW_TO = re.compile(r"^\s*how\s+to\s+", re.I)
_PURPOSE = re.compile(r"\s+(?:in\s+order\s+)?to\s+([A-Za-z][\w'-]*)", re.I)
_TOKEN = re.compile(r"[A-Za-z][\w'-]*")


def step_of(question: str) -> str | None:
    """The step of a "how ... <step> to <goal>?" question ("How to do chin tucks?" for "How to do chin tucks
    to relieve neck pain?"), or None when it has no purpose clause.

    The clause is the first " to <verb>" (or " in order to <verb>") after the opening "how (to)": "to" before a
    determiner or pronoun ("tape it to the next finger") is a place, not a purpose, and "able / want / need /
    possible ... to" belongs to the opening. Without a part-of-speech tagger the rule also splits "to" before a
    bare noun ("knee to chest stretch"), so it keeps a step of at least two content words and a goal of at
    least two words."""
    if not re.match(r"^\s*how\b", question, re.I):
        return None
    opening = _HOW_TO.match(question)
    body = opening.end() if opening else 0
    for m in _PURPOSE.finditer(question, body):
        before = question[:m.start()].split()
        if m.group(1).lower() in _NOT_VERB or (before and before[-1].lower().strip(",") in _BEFORE_INFINITIVE):
            continue
        content = [w for w in _TOKEN.findall(question[body:m.start()]) if len(w) >= 3 and w.lower() not in _NOT_CONTENT]
        if len(content) < 2 or len(question[m.start(1):].split()) < 2:
            continue
        return question[:m.start()].strip().rstrip(" ,") + "?"
    return None
