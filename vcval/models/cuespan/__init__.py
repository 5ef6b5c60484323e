"""CueSpan: a small learned answer localizer over precomputed cue (unit) embeddings.

The modeling names load torch on first use (module ``__getattr__``), so the configuration (and the ONNX runtime,
:mod:`vcval.runtime`) can be imported without it.
"""
from __future__ import annotations

from typing import Any

from vcval.models.cuespan.configuration_cuespan import CueSpanConfig

_MODELING = ("CueSpanEnsemble", "CueSpanLoss", "CueSpanModel", "CueSpanOutput", "load_cuespan", "member_files",
             "pool_frames")

__all__ = ["CueSpanConfig", *_MODELING]


def __getattr__(name: str) -> Any:
    if name in _MODELING:
        from vcval.models.cuespan import modeling_cuespan

        return getattr(modeling_cuespan, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
