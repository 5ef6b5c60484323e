"""CueSpan: a small learned answer localizer over precomputed cue (unit) embeddings."""
from vcval.models.cuespan.configuration_cuespan import CueSpanConfig
from vcval.models.cuespan.modeling_cuespan import (
    CueSpanEnsemble,
    CueSpanLoss,
    CueSpanModel,
    CueSpanOutput,
    load_cuespan,
    member_files,
    pool_frames,
)

__all__ = ["CueSpanConfig", "CueSpanEnsemble", "CueSpanLoss", "CueSpanModel", "CueSpanOutput", "load_cuespan",
           "member_files", "pool_frames"]
