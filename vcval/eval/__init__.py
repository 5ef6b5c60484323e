"""Evaluation: metrics (``metrics``), the evaluator (``runner``) and tables + CLI (``report``).

``vcval.evaluation`` re-exports the public names.
"""
from __future__ import annotations
