"""Evaluation of corpus-level answer localization: metrics, the evaluator and ``vcval eval``.

The code lives in the :mod:`vcval.eval` package (``metrics``: pure metric functions; ``runner``:
questions + transcripts folder -> :class:`EvalReport`; ``report``: tables and the CLI command);
this module is the stable import path.

    from vcval.evaluation import evaluate, format_table
    report = evaluate("data/tutorialvqa/test.json", "data/tutorialvqa/transcripts", method="hybrid")
    print(format_table([report]))
"""
from __future__ import annotations

from vcval.evaluation.metrics import (
    IOU_THRESHOLDS,
    RANK_NS,
    RETRIEVAL_KS,
    Gold,
    Prediction,
    as_gold,
    as_prediction,
    clamp_span,
    compute_all,
    correct_video_rank,
    localization_metrics,
    metric_names,
    prediction_ious,
    retrieval_metrics,
    temporal_iou,
    video_ranking,
)
from vcval.evaluation.report import add_eval_arguments, format_table, metric_legend, run_eval_command, short_name
from vcval.evaluation.runner import EvalReport, Evaluator, Question, content_hash, evaluate, load_questions

__all__ = [
    "IOU_THRESHOLDS",
    "RANK_NS",
    "RETRIEVAL_KS",
    "EvalReport",
    "Evaluator",
    "Gold",
    "Prediction",
    "Question",
    "add_eval_arguments",
    "as_gold",
    "as_prediction",
    "clamp_span",
    "compute_all",
    "content_hash",
    "correct_video_rank",
    "evaluate",
    "format_table",
    "load_questions",
    "localization_metrics",
    "metric_legend",
    "metric_names",
    "prediction_ious",
    "retrieval_metrics",
    "run_eval_command",
    "short_name",
    "temporal_iou",
    "video_ranking",
]
