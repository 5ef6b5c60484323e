"""How often the answer's key sentence (``Answer.key_start``/``key_end``) lies inside the true answer.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_key_sentence.py > benchmarks/key_sentence.md

For each question the default pipeline answers (k=1). When the top answer is in the right video, every
sentence unit of its span is a possible key sentence, and a rule *hits* when the sentence it picks has its
midpoint inside the true answer. Rules:

- ``served``: what ``Answer.key_start`` names (``vcval.localization.cuespan.key_unit``);
- ``first``: the span's first sentence (what a viewer of the clip hears first);
- ``cosine``: the unit whose own MiniLM vector is closest to the question (the rule served);
- ``context``: the same with the unit's contextual encoding (neighbours included);
- ``cosine+words``: cosine + the idf-weighted share of question words the sentence holds;
- ``chance``: the expected hit rate of a sentence drawn at random from the span.

The rule was chosen on all TutorialVQA by-video DEV questions (``--sets tvqa-dev``); the other sets are
held out: the by-video test (seeded sample), MedVidQA (29 videos, never trained or tuned on) and the demo.
The table goes to stdout (markdown), diagnostics to stderr.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import MEDVIDQA, ROOT, TUTORIALVQA, ensure_converted, markdown_table  # noqa: E402

from vcval.evaluation.questions import seeded_sample  # noqa: E402
from vcval.utils import setup_script_logging  # noqa: E402

logger = logging.getLogger("bench.key_sentence")

SETS = {  # name: (questions, transcripts, sampled)
    "tvqa-dev": (TUTORIALVQA / "dev.json", TUTORIALVQA / "transcripts", False),
    "tvqa-test": (TUTORIALVQA / "test.json", TUTORIALVQA / "transcripts", True),
    "medvidqa": (MEDVIDQA / "questions_with_transcripts.json", MEDVIDQA / "transcripts", False),
    "demo": (ROOT / "data" / "demo" / "questions.json", ROOT / "data" / "demo" / "transcripts", False),
}
RULES = ("served", "first", "cosine", "context", "cosine+words")


def rule_picks(vec: np.ndarray, ctx: np.ndarray, words: np.ndarray) -> dict[str, int]:
    """Offsets into the span (0 = first unit) picked by each rule but ``served``. Arrays: (n units,) scores."""
    return {"first": 0, "cosine": int(np.argmax(vec)), "context": int(np.argmax(ctx)),
            "cosine+words": int(np.argmax(vec + words))}


def measure(name: str, questions: Path, transcripts: Path, sample: int | None, seed: int) -> dict[str, object]:
    """Hit rates of every rule over the right-video top answers of one question set."""
    from vcval.corpus.encodings import content_words, idf_coverage, question_weights
    from vcval.evaluation.questions import load_questions
    from vcval.evaluation.runner import Evaluator
    from vcval.pipeline import build_pipeline

    corpus = Evaluator(transcripts).corpus
    qa = build_pipeline(corpus, "default")
    encode: Callable[[list[str]], np.ndarray] = qa.localizer.question_encoder.encode  # what the key rule reads
    idf = corpus.word_idf()
    qs = seeded_sample(load_questions(questions), sample, seed)
    hits: dict[str, list[float]] = {r: [] for r in (*RULES, "chance")}
    n_units = []
    for q in qs:
        answers = qa.ask(q.question, k=1)
        if not answers or answers[0].video_id != q.video_id or answers[0].key_start is None:
            continue
        a = answers[0]
        u = corpus.unit_encodings(a.video_id)
        span = [i for i, x in enumerate(u.units) if x.start >= a.start - 1e-3 and x.end <= a.end + 1e-3]
        inside = np.array([q.start <= (u.units[i].start + u.units[i].end) / 2 <= q.end for i in span])
        q_vec = np.asarray(encode([q.question]), np.float32)[0]
        weights = question_weights(content_words(q.question), idf)
        picks = rule_picks(u.vectors[span] @ q_vec, u.context[span] @ q_vec,
                           np.array([idf_coverage(weights, u.words[i]) for i in span]))
        picks["served"] = next(k for k, i in enumerate(span) if u.units[i].start == a.key_start)
        for rule, k in picks.items():
            hits[rule].append(float(inside[k]))
        hits["chance"].append(float(inside.mean()))
        n_units.append(len(span))
    logger.info("%s: %d of %d questions with a right-video top answer", name, len(n_units), len(qs))
    return {"set": name, "questions": len(qs), "right_video": len(n_units),
            "units": float(np.mean(n_units)) if n_units else 0.0,
            **{r: 100 * float(np.mean(v)) if v else float("nan") for r, v in hits.items()}}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--sample", type=int, default=300, help="questions of the TutorialVQA test (seeded sample)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="vcval's own INFO logging too")
    args = ap.parse_args(argv)
    setup_script_logging(args.verbose)
    ensure_converted()
    rows = []
    for name in args.sets:
        questions, transcripts, sampled = SETS[name]
        if not questions.is_file():
            raise SystemExit(f"{questions} not found: run scripts/convert_demo.py (the demo) or "
                             "scripts/convert_*.py (see README, Training)")
        r = measure(name, questions, transcripts, args.sample if sampled else None, args.seed)
        rows.append([r["set"], r["questions"], r["right_video"], f"{r['units']:.1f}",
                     *(f"{r[k]:.1f}" for k in (*RULES, "chance"))])
    print(markdown_table(["set", "questions", "right-video top answers", "sentences per span",
                          *(f"{k} hit %" for k in (*RULES, "chance"))], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
