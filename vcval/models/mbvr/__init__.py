"""MBVR: modality-balanced video retrieval towers (question -> video) over frozen sentence vectors + frames."""
from vcval.models.mbvr.configuration_mbvr import MBVRConfig
from vcval.models.mbvr.modeling_mbvr import (
    MBVR_ENV,
    MBVR_MARKER,
    MBVRLoss,
    MBVRLossOutput,
    MBVRModel,
    VideoInputs,
    batch_videos,
    load_mbvr,
    pool_tokens,
    prepare_video,
    shuffle_partners,
    shuffled_margins,
)

__all__ = ["MBVR_ENV", "MBVR_MARKER", "MBVRConfig", "MBVRLoss", "MBVRLossOutput", "MBVRModel", "VideoInputs",
           "batch_videos", "load_mbvr", "pool_tokens", "prepare_video", "shuffle_partners", "shuffled_margins"]
