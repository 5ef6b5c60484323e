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
