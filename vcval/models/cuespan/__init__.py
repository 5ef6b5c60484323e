"""CueSpan: a small learned answer localizer over precomputed cue (unit) embeddings."""
from vcval.models.cuespan.configuration_cuespan import CueSpanConfig
from vcval.models.cuespan.modeling_cuespan import CueSpanLoss, CueSpanModel, CueSpanOutput, pool_frames

__all__ = ["CueSpanConfig", "CueSpanLoss", "CueSpanModel", "CueSpanOutput", "pool_frames"]
