"""CCGS: the cross-encoder global-span model (configuration, modeling with its loss, layers, token-window inputs).

The names below load on first access, so importing a submodule (e.g. ``layers`` for its rotary
encoding, used by CueSpan too) does not import transformers.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "CCGSConfig": "configuration_ccgs",
    "CCGSModel": "modeling_ccgs",
    "CCGSOutput": "modeling_ccgs",
    "GlobalSpanContrastiveLoss": "modeling_ccgs",
    "load_ccgs": "modeling_ccgs",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"vcval.models.ccgs.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vcval.models.ccgs' has no attribute {name!r}")
