#!/usr/bin/env python
"""Serving-time ablations of the shipped CueSpan checkpoint: the same weights with one serving choice
changed, scored on TutorialVQA dev (where the choices are made), MedVidQA (29 transcripts, never used
for a choice) and the demo questions (never used for a choice).

    .venv/bin/python scripts/cuespan_serving_ablations.py [--dev-sample 300]

Variants: ``shipped`` (checkpoints/cuespan as served); ``raw_cue_units`` (no sentence snapping: every
subtitle cue is a unit, so spans may start or end mid-sentence); ``no_length_tilt`` (the model's own
TutorialVQA answer lengths); ``power_law_length`` (the recipe's length target: a power law of the video's
duration fitted to the MedVidQA train annotations); ``no_retrieval_weight`` (spans ranked by span score
alone); ``spans_from_intro`` (spans may start in the video's first units); ``argmax`` / ``expected_iou``
(``expected_iou_t<T>``: at temperature T) decoding (``CueSpanInference.decode``); ``hybrid_video_retriever``
(the first stage is ``hybrid-video``: whole-transcript BM25's video rank as a third reciprocal-rank list);
``n_videos_<N>`` (the localizer sees the top N retrieved videos instead of 10); ``fact_units_<n>`` (questions
whose form asks for one fact get spans of at most n sentence units, ``CueSpanInference.fact_max_units``);
``strip_procedure_prefix`` (a procedure question loses its interrogative opening, "how do I" / "how to" / "what is
the way to", before retrieval and localization, so it reads like the instruction it looks for); ``meta_edges`` / ``no_meta_edges`` (spans may not start or end
on a sentence about the video itself: channel promotion, greetings, announcements, sign-offs;
``CueSpanInference.meta_edges``); ``goal_split`` / ``no_goal_split`` (a "how ... <step> to <goal>?" question's spans
are placed inside each video by its step alone, ``CueSpanInference.goal_split``). Metrics: video R@1, Rank@1 mIoU, Rank@1 IoU>=0.5 (all in %), median length of the rank-1 span in
seconds beside the gold median. Writes benchmarks/cuespan_serving_ablations.md.
"""
from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vcval.config import PipelineConfig  # noqa: E402
from vcval.evaluation import Evaluator  # noqa: E402

logger = logging.getLogger("cuespan_serving_ablations")

DATASETS = {  # key: (name, questions, transcripts, used for choices?)
    "dev": ("TutorialVQA dev (by video)", "data/tutorialvqa/dev.json", "data/tutorialvqa/transcripts", True),
    "medvidqa": ("MedVidQA (29 videos)", "data/medvidqa/questions_with_transcripts.json",
                 "data/medvidqa/transcripts", False),
    "demo": ("demo (8 videos)", "data/demo/questions.json", "data/demo/transcripts", False),
}
PROCEDURE_PREFIX = re.compile(r"^\s*(how\s+(do|can|should|would|could)\s+(i|you|we|one)\s+|how\s+to\s+|"
                              r"what\s+is\s+the\s+(best\s+)?way\s+to\s+|what\s+are\s+the\s+steps\s+to\s+)", re.I)


class StrippedQuestions:
    """A pipeline that asks a procedure question without its interrogative opening (``strip_procedure_prefix``)."""

    def __init__(self, qa: Any) -> None:
        self.qa = qa

    def ask(self, question: str, k: int = 10) -> Any:
        from vcval.localization.question_form import question_form

        if question_form(question) == "procedure":
            question = PROCEDURE_PREFIX.sub("", question).strip() or question
        return self.qa.ask(question, k=k)


VARIANTS = ["shipped", "raw_cue_units", "no_length_tilt", "power_law_length", "no_retrieval_weight", "spans_from_intro"]


def make_pipeline(evaluator: Evaluator, variant: str, folder: Path | None = None) -> Any:
    """The shipped CueSpan pipeline (or the checkpoint in ``folder``) over the evaluator's corpus with
    ``variant`` applied."""
    from vcval.config import checkpoint_dir
    from vcval.localization.cuespan import CueSpanLocalizer
    from vcval.pipeline import VCVAL
    from vcval.retrieval import make_retriever
    from vcval.training.trainer_cuespan import length_target

    corpus = evaluator.corpus
    folder = folder or checkpoint_dir("cuespan")
    if folder is None:
        raise SystemExit("no shipped CueSpan checkpoint (checkpoints/cuespan)")
    loc = CueSpanLocalizer.from_pretrained(folder, encoder=corpus.text_encoder, idf=corpus.word_idf)
    inf = loc.inference
    if variant == "raw_cue_units":
        loc.sentence_units = False
    elif variant == "no_length_tilt":
        inf.target_length_median_s = None
    elif variant == "power_law_length":
        for key, value in length_target(ROOT / "data/medvidqa/priors.json").items():
            setattr(inf, key, value)
    elif variant == "no_retrieval_weight":
        inf.retrieval_weight = 0.0
    elif variant == "spans_from_intro":
        inf.skip_first_units = 0
    elif variant.startswith("expected_iou"):  # expected_iou or expected_iou_t<temperature>
        inf.decode = "expected_iou"
        if "_t" in variant:
            inf.decode_temperature = float(variant.rsplit("_t", 1)[1])
    elif variant == "hybrid_video_retriever":
        inf.retriever = "hybrid-video"
    elif variant.startswith("argmax"):
        inf.decode = "argmax"
    elif variant.startswith("video_mass_"):  # video_mass_<w>[+rw_<r>]: w x span mass (and retrieval weight r)
        mass, _, rw = variant.partition("+rw_")
        inf.video_mass_weight = float(mass.rsplit("_", 1)[1])
        if rw:
            inf.retrieval_weight = float(rw)
    elif variant.startswith("fact_units_"):  # fact_units_<n>: fact questions get spans of at most n units
        inf.fact_max_units = int(variant.rsplit("_", 1)[1])
    elif variant == "meta_edges":  # no span starts or ends on a sentence about the video itself
        inf.meta_edges = True
    elif variant == "no_meta_edges":
        inf.meta_edges = False
    elif variant == "goal_split":  # a "<step> to <goal>?" question's spans placed by its step alone
        inf.goal_split = True
    elif variant == "no_goal_split":
        inf.goal_split = False
    elif variant not in ("shipped", "strip_procedure_prefix") and not variant.startswith("n_videos_"):
        raise SystemExit(f"unknown variant {variant}")
    config = PipelineConfig()
    if variant.startswith("n_videos_"):  # n_videos_<N>: the localizer sees the top N retrieved videos (default 10)
        config.n_videos = int(variant.rsplit("_", 1)[1])
    retriever = make_retriever(corpus, inf.retriever, encoder=corpus.text_encoder)
    qa = VCVAL(corpus, retriever, loc, config)
    return StrippedQuestions(qa) if variant == "strip_procedure_prefix" else qa


def paired_lines(per_question: dict[str, list[dict]]) -> list[str]:
    """Markdown lines: every variant against the first on the same questions: video R@1 (the right video at rank 1,
    0 or 100 per question) and Rank@1 IoU (x 100), mean difference and two 95% paired bootstrap intervals, one
    resampling questions and one resampling whole videos (the honest one: TutorialVQA dev has 8 videos)."""
    from vcval.evaluation.metrics import paired_bootstrap

    names = list(per_question)
    ref = names[0]

    def values(rows: list[dict]) -> tuple[list[float], list[float]]:
        right = [100.0 * (r["video_rank"] == 1) for r in rows]
        return right, [100.0 * r["iou_at_1"] for r in rows]

    base = values(per_question[ref])
    videos = [r["video_id"] for r in per_question[ref]]
    lines = [f"Paired against `{ref}` on the same {len(videos)} questions on {len(set(videos))} videos (2,000 "
             "bootstrap resamples of the questions, and of the videos):", "",
             "| variant | video R@1 difference | by question | by video | Rank@1 IoU difference | by question | by video |",
             "|---|---|---|---|---|---|---|"]
    for name in names[1:]:
        mine = values(per_question[name])
        cells = []
        for a, b in zip(base, mine):
            mean, low, high = paired_bootstrap(a, b)
            _, vlow, vhigh = paired_bootstrap(a, b, groups=videos)
            cells += [f"{mean:+.2f}", f"[{low:+.2f}, {high:+.2f}]", f"[{vlow:+.2f}, {vhigh:+.2f}]"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-sample", type=int, default=300, help="seeded sample of the dev questions")
    ap.add_argument("--variants", nargs="+", default=VARIANTS)
    ap.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS),
                    help="measure dev alone first to make a choice before looking at the transfer sets")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cuespan_serving_ablations.md")
    ap.add_argument("--paired", action="store_true",
                    help="also compare every variant with the first, question by question (video R@1 and Rank@1 "
                         "IoU, mean difference with a 95%% paired bootstrap interval)")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    lines = [
        "# CueSpan serving ablations",
        "",
        f"`.venv/bin/python scripts/cuespan_serving_ablations.py --dev-sample {args.dev_sample}`: the shipped "
        "weights (`checkpoints/cuespan`) with one serving choice changed; retrieval over the whole corpus "
        "(hybrid, top 10 videos), k = 10. Only TutorialVQA dev informs choices; MedVidQA and the demo are "
        "measured, never tuned on. R@1 = video retrieval; R1 mIoU / R1@.5 = Rank@1 mIoU / IoU>=0.5 (%); "
        "len = median rank-1 span (s), gold = median gold answer (s).",
        "",
    ]
    for title, questions, transcripts, tuned in (DATASETS[key] for key in args.datasets):
        if not (ROOT / questions).is_file():
            logger.warning("skipping %s: %s missing (run the scripts/convert_*.py converters)", title, questions)
            continue
        evaluator = Evaluator(ROOT / transcripts, progress=False)
        lines += [f"## {title}{'' if tuned else ' (never used for a choice)'}", "",
                  "| variant | N | R@1 | R1 mIoU | R1@.5 | len s | gold s |", "|---|---|---|---|---|---|---|"]
        per_question: dict[str, list[dict]] = {}
        for variant in args.variants:
            sample = args.dev_sample if tuned else None
            report = evaluator.run(ROOT / questions, "cuespan", k=10, pipeline=make_pipeline(evaluator, variant),
                                   sample=sample, seed=0)
            rows = report.per_question
            per_question[variant] = rows
            top_len = [r["predictions"][0][2] - r["predictions"][0][1] for r in rows if r["predictions"]]
            gold_len = [r["gold"][1] - r["gold"][0] for r in rows]
            m = report.metrics
            lines.append(f"| {variant} | {report.n_questions} | {m['R@1']:.2f} | {m['Rank@1 mIoU']:.2f} | "
                         f"{m['Rank@1 IoU=0.5']:.2f} | {statistics.median(top_len):.1f} | "
                         f"{statistics.median(gold_len):.1f} |")
            logger.info("%s %s: %s", title, variant, lines[-1])
        lines.append("")
        if args.paired and len(per_question) > 1:
            lines += paired_lines(per_question)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
