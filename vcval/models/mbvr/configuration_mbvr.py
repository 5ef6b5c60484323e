"""Configuration of :class:`~vcval.models.mbvr.modeling_mbvr.MBVRModel`."""
from __future__ import annotations

from dataclasses import dataclass

from vcval.config import JsonConfig


@dataclass
class MBVRConfig(JsonConfig):
    """Sizes, switches and loss weights of the MBVR towers (Modality-Balanced Video Retrieval, SIGIR 2022).

    text_dim: size of the frozen sentence vectors (packaged all-MiniLM-L6-v2: 384) of the query, the title
    and the transcript windows. visual_dim: size of a frame feature (EfficientNet-Lite0: 1280; any (T, D)
    ``.npy`` features of that D). use_visual False = the text-only tower (frames always masked: an ablation).
    hidden / n_layers / n_heads / ff_dim / dropout: the fusion transformer over [CLS, text tokens, frame tokens].
    max_text_tokens / max_frames: a video's windows / frames are average-pooled into at most this many
    contiguous groups (long videos keep their whole timeline at a coarser grain).
    modality_dropout: in training, the chance that a video with both modalities loses one of them
    (text or frames, half each) in the in-batch loss, so one checkpoint serves text-only videos too.
    scale: inverse temperature of the in-batch softmax.
    use_shuffled: add the modality-shuffled-negative hinge (a video's text with another video's frames must
    score at least a margin below the true video); shuffled_weight: its weight in the loss.
    margin / dynamic_margin / margin_gamma: the hinge margin. Dynamic: m_i = margin * sigmoid(margin_gamma * r_i),
    r_i = cos(query_i, vision-only embedding of video i) (no gradient): the more the true video's frames alone
    match the query, the larger the margin. Static (ablation): m_i = margin * 0.5 (its value at r_i = 0).
    text_skip: add a linear skip path to both towers: the query's own vector, and the masked mean of the
    video's text tokens; with hidden == text_dim both start as the identity and the fused (CLS) path at zero,
    so untrained towers score cos(question, mean window vector) and training moves away from that baseline.
    use_title: a title token (the record's title vector) leads the text tokens; False when trained without titles.
    """

    text_dim: int = 384
    visual_dim: int = 1280
    hidden: int = 128
    n_layers: int = 1
    n_heads: int = 4
    ff_dim: int = 256
    dropout: float = 0.1
    max_text_tokens: int = 48
    max_frames: int = 32
    use_visual: bool = True
    use_title: bool = False
    text_skip: bool = True
    modality_dropout: float = 0.3
    scale: float = 20.0
    use_shuffled: bool = True
    shuffled_weight: float = 1.0
    margin: float = 0.4
    dynamic_margin: bool = True
    margin_gamma: float = 5.0
