"""Configuration of :class:`~vcval.models.cuespan.modeling_cuespan.CueSpanModel`."""
from __future__ import annotations

from dataclasses import dataclass

from vcval.config import JsonConfig


@dataclass
class CueSpanConfig(JsonConfig):
    """Sizes and switches of the CueSpan head (defaults = the prototype's trained model).

    emb_dim: size of the frozen sentence embeddings (all-MiniLM-L6-v2: 384).
    hidden / n_layers / n_heads / ff_dim: the cue-sequence encoder (conv + self-attention).
    head_size / use_rotary / span_head ("global" | "independent"): the span scorer; rotary_position
    "index" rotates by unit index (CCGS), "share" by the unit's middle as a share of the video times
    rotary_scale (so the learned start-end offsets, like a "fraction" length bias, scale with the video);
    use_span_sum adds sum_{k=i..j} u_k (a learned per-cue relevance above a learned level).
    max_span_cues: longest span in units; len_buckets buckets the log length of a span for a
    learned length bias: in seconds between min_len_s and max_len_s (``length_unit`` "seconds"), or as a
    share of the video between min_len_frac and 1 (``length_unit`` "fraction": answers are a similar
    share of the video across domains, 11-12% at the median in TutorialVQA and in the 2,710 MedVidQA
    train annotations, while their seconds follow the videos' lengths). use_offset_bias adds a learned
    bias per span length in units.
    boundary_features adds four question-independent inputs per unit (cosine with the previous / next
    unit, the pause before / after it z-scored within the video): where a step or topic changes.
    topic_features adds three inputs per unit (``topic_features``): its centrality in the video, how much the
    question is about the video's topic, and its cosine with the question stripped of that topic, so that a
    question restating the video's topic (as medical questions do) need not land on the introduction.
    contrastive_weight: lambda of Loss2 in Loss = Loss1 + lambda * Loss2.
    highlight_weight: weight of an auxiliary per-unit loss (VSLNet's query-guided highlighting, which
    the CCGS authors' VPTSL also trains): binary cross-entropy of each unit's relevance u_k (the term
    ``use_span_sum`` adds) against "inside the answer" on the positive rows, so every unit gets a
    label, not only the span's two ends (an experiment; 0 = off, as in the shipped model).
    soft_label_iou: Loss1's target. 0: the one cell best matching the answer (cross-entropy on it). t > 0:
    every valid cell whose IoU with the answer is >= t, weighted by that IoU (normalised; the best cell
    alone when none reaches t), as 2D-TAN's IoU-scaled targets: near-miss ends are not pushed down
    as hard as wrong spans, so the span distribution's mass follows IoU, the metric users see.
    use_lexical: read the IDF lexical-overlap features (False zeroes them: an ablation).
    lexical_video_idf: weigh each question word in those features also by its rarity inside the video
    (:func:`vcval.corpus.encodings.video_word_factors`): a word on every sentence of the video (its topic)
    says which video, not where in it (an experiment; off in the shipped model).
    unit_inputs: what of each unit's embedding the interaction reads. "full": a question-independent
    projection of the unit embedding, its product with the question's projection, and the scalar features;
    "interaction": without the question-independent projection (which can learn which *content* of the
    training domain tends to be an answer); "scalar": the scalar features only (cosines, lexical overlap,
    position, duration), the same for any domain's vocabulary.
    visual_dim: size of the visual frame features fused by time (EfficientNet-Lite0: 1280); 0 = a
    text-only model (no visual branch). Units without frames get no visual term, so a visual model
    also serves transcript-only videos; visual_dropout drops a row's frames in training so it learns to.
    """

    emb_dim: int = 384
    hidden: int = 128
    n_layers: int = 2
    n_heads: int = 4
    ff_dim: int = 256
    conv_kernel: int = 5
    dropout: float = 0.1
    head_size: int = 64
    use_rotary: bool = True
    rotary_position: str = "index"
    rotary_scale: float = 100.0
    span_head: str = "global"
    use_span_sum: bool = True
    use_length_bias: bool = True
    max_span_cues: int = 40
    max_span_seconds: float | None = None
    len_buckets: int = 24
    min_len_s: float = 2.0
    max_len_s: float = 400.0
    length_unit: str = "seconds"
    min_len_frac: float = 0.005
    use_offset_bias: bool = True
    boundary_features: bool = False
    topic_features: bool = False
    contrastive_weight: float = 1.0
    highlight_weight: float = 0.0
    soft_label_iou: float = 0.0
    use_lexical: bool = True
    lexical_video_idf: bool = False
    unit_inputs: str = "full"
    visual_dim: int = 0
    visual_dropout: float = 0.3
