"""Evaluation of corpus-level answer localization.

``metrics`` (the CCGS paper's 16, pure functions), ``questions`` (the one question type and
loader), ``runner`` (questions + transcripts folder -> :class:`EvalReport` through the real
pipeline; a light in-memory harness for training-time dev evaluation), ``report`` (tables and
the ``vcval eval`` command).

    from vcval.evaluation import evaluate, format_table
    report = evaluate("data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", method="hybrid")
    print(format_table([report]))
"""
from __future__ import annotations

from vcval.evaluation.metrics import compute_all, metric_names
from vcval.evaluation.questions import Question, load_questions
from vcval.evaluation.report import format_table, run_eval_command
from vcval.evaluation.runner import EvalReport, Evaluator, evaluate

__all__ = [
    "EvalReport",
    "Evaluator",
    "Question",
    "compute_all",
    "evaluate",
    "format_table",
    "load_questions",
    "metric_names",
    "run_eval_command",
]

# Names this package re-exported before 0.2, now imported from their modules (kept for one release).
_LEGACY = {
    **dict.fromkeys(["IOU_THRESHOLDS", "RANK_NS", "RETRIEVAL_KS", "Gold", "Prediction", "as_gold", "as_prediction",
                     "clamp_span", "correct_video_rank", "localization_metrics", "prediction_ious",
                     "retrieval_metrics", "video_ranking"], "vcval.evaluation.metrics"),
    "temporal_iou": "vcval.localization.spans",
    **dict.fromkeys(["add_eval_arguments", "metric_legend", "short_name"], "vcval.evaluation.report"),
    "content_hash": "vcval.evaluation.runner",
}


def __getattr__(name: str):
    if name in _LEGACY:
        import importlib
        import warnings

        warnings.warn(f"import {name} from {_LEGACY[name]}; vcval.evaluation.{name} goes in 0.3",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(_LEGACY[name]), name)
    raise AttributeError(f"module 'vcval.evaluation' has no attribute {name!r}")
