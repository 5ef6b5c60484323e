"""CCGS: the cross-modal contrastive global-span model, its pure span functions and its localizer.

    from vcval.modeling import load_ccgs_localizer
    localizer = load_ccgs_localizer("checkpoints", device="auto")   # or a Hub id + revision=...
"""
from __future__ import annotations

from vcval.modeling.ccgs import CCGSConfig, CCGSModel, CCGSOutput, load_ccgs, load_tokenizer, resolve_device
from vcval.modeling.localizer import CCGSLocalizer, load_ccgs_localizer

__all__ = [
    "CCGSConfig",
    "CCGSModel",
    "CCGSOutput",
    "CCGSLocalizer",
    "load_ccgs",
    "load_ccgs_localizer",
    "load_tokenizer",
    "resolve_device",
]
