"""CueSpan: question-cue interaction over precomputed cue embeddings + a global-span head.

Heavy work happens once per video: every unit (sentence-like cue) is embedded alone and with
its neighbours by a frozen sentence encoder. At ask time only the question is embedded; this
module then scores every span [i, j] of units in a few milliseconds:

1. per-unit features: cosine(q, unit), cosine(q, unit with context) (raw, centred and
   z-scored within the video), an IDF-weighted lexical overlap (given), relative position,
   unit duration, plus projections of the unit embedding and its product with the question;
2. a small sequence encoder over units (depthwise-separable conv + self-attention);
   When the model has a visual branch (``visual_dim``), each unit also gets the mean of the frame
   features inside its time span (1 fps, :func:`pool_frames`), projected and multiplied with the
   question (fusion by time, as CCGS aligns frames with subtitle spans); units without frames add 0.
3. a span head: score[i, j] = <Y_i, X_j> / sqrt(d) with rotary positions over unit indexes
   (CCGS's global span head) + sum_{k=i..j} u_k (learned relevance mass inside the span)
   + learned length biases (span length in units, and log length buckets in seconds or as a share of
   the video, ``length_unit``).

Cells are valid for i <= j, j - i < max_span_cues (and optionally a seconds limit).
Loss = Loss1 (cross-entropy over the positive video's valid cells) + lambda * Loss2
(cross-entropy over the positive's cells concatenated with the same question's cells on
negative videos), see :class:`CueSpanLoss`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vcval.localization.spans import NEG_INF
from vcval.models.ccgs.layers import rotary
from vcval.models.cuespan.configuration_cuespan import CueSpanConfig

N_SCALAR = 12
N_BOUNDARY = 4  # boundary_features: cos with the previous / next unit, pause before / after (z-scored log)
N_TOPIC = 3  # topic_features: unit centrality, question topicality, question-without-topic cosine (z-scored)


def band_end_index(n: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, W) long: the last unit i + o of band cell [i, o] (not clamped: cells past the end hold >= N)."""
    return torch.arange(n, device=device)[:, None] + torch.arange(w, device=device)[None]


def band_valid(
    cue_mask: torch.Tensor, w: int, cue_start: torch.Tensor | None = None, cue_end: torch.Tensor | None = None,
    max_span_seconds: float | None = None,
) -> torch.Tensor:
    """(B, N, W) bool: span [i, i + o] is valid (both ends real cues; optional seconds limit, o = 0 always kept)."""
    b, n = cue_mask.shape
    jdx = band_end_index(n, w, cue_mask.device)  # (N, W)
    inside = jdx < n  # (N, W)
    jc = jdx.clamp(max=n - 1)
    valid = inside[None] & cue_mask[:, :, None] & cue_mask[:, jc]  # (B, N, W)
    if max_span_seconds is not None and cue_start is not None and cue_end is not None:
        length = cue_end[:, jc] - cue_start[:, :, None]  # (B, N, W)
        valid = valid & ((length <= max_span_seconds) | (torch.arange(w, device=cue_mask.device) == 0)[None, None])
    return valid


def pool_frames(features: np.ndarray | None, starts: np.ndarray, ends: np.ndarray,
                fps: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean frame feature inside each unit: features (T, D) sampled at ``fps`` (frame t at t / fps s),
    starts / ends (U,) seconds -> ((U, D) float32, (U,) bool has-frames), or None without features.
    A unit with no frame inside takes the frame nearest its middle; a unit past the last frame has none."""
    if features is None or len(features) == 0:
        return None
    feats = np.asarray(features, np.float32)
    t = len(feats)
    starts, ends = np.asarray(starts, np.float64), np.asarray(ends, np.float64)
    lo = np.clip(np.ceil(starts * fps).astype(int), 0, t)  # (U,) first frame inside
    hi = np.clip(np.floor(ends * fps).astype(int) + 1, 0, t)  # (U,) one past the last frame inside
    mid = np.round((starts + ends) / 2 * fps).astype(int)  # (U,)
    inside = hi > lo
    has = inside | (mid < t)
    prefix = np.concatenate([np.zeros((1, feats.shape[1])), np.cumsum(feats, 0, dtype=np.float64)])  # (T+1, D)
    mean = (prefix[hi] - prefix[lo]) / np.maximum(hi - lo, 1)[:, None]  # (U, D)
    pooled = np.where(inside[:, None], mean, feats[np.clip(mid, 0, t - 1)])
    return (pooled * has[:, None]).astype(np.float32), has


def band_to_full(band: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scatter (B, N, W) band scores / validity into (B, N, N) (invalid cells NEG_INF / False)."""
    b, n, w = band.shape
    full = band.new_full((b, n, n), NEG_INF)  # (B, N, N)
    vfull = torch.zeros((b, n, n), dtype=torch.bool, device=band.device)  # (B, N, N)
    bi, ii, oi = valid.nonzero(as_tuple=True)  # valid cells only: j = i + o < N, unique
    full[bi, ii, ii + oi] = band[bi, ii, oi]
    vfull[bi, ii, ii + oi] = True
    return full, vfull


def video_seconds(cue_end: torch.Tensor, cue_mask: torch.Tensor, duration: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) video length in seconds, at least 1: ``duration`` (B,) when given (the units may be a crop of the
    video), else the last real unit's end; cue_end (B, N) seconds, cue_mask (B, N) bool."""
    if duration is None:
        duration = (cue_end * cue_mask.float()).max(1).values  # (B,)
    return duration.float().clamp(min=1.0)


def masked_moments(v: torch.Tensor, mask: torch.Tensor, floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation (floored at ``floor``), each (B, 1), of v (B, N) over the cells where the
    float ``mask`` (B, N) is 1: the statistics the per-unit features are centred and z-scored by within a video."""
    cnt = mask.sum(1, keepdim=True).clamp(min=1.0)  # (B, 1)
    mean = (v * mask).sum(1, keepdim=True) / cnt
    std = (((v - mean) ** 2 * mask).sum(1, keepdim=True) / cnt).sqrt().clamp(min=floor)
    return mean, std


def topic_features(question: torch.Tensor, cues_ctx: torch.Tensor, cue_mask: torch.Tensor) -> torch.Tensor:
    """(B, N, N_TOPIC) how much each unit and the question are about the video's topic rather than one step.

    The topic is the direction m of the video's mean context vector. Per unit: its centrality cos(unit, m)
    z-scored within the video (introductions and overviews restate the topic: high); the question's
    topicality cos(q, m), the same on every unit (a question that restates the video's topic: high); and
    the cosine of each unit with the question stripped of its topic component, q - (q.m) m, z-scored within
    the video. question (B, D), cues_ctx (B, N, D) normalised, cue_mask (B, N) bool."""
    m = cue_mask.float()  # (B, N)
    topic = F.normalize((cues_ctx * m[..., None]).sum(1), dim=-1)  # (B, D)
    central = torch.einsum("bnd,bd->bn", cues_ctx, topic)  # (B, N)
    q_topic = (question * topic).sum(-1, keepdim=True)  # (B, 1)
    residual = F.normalize(question - q_topic * topic, dim=-1)  # (B, D)
    cos_r = torch.einsum("bd,bnd->bn", residual, cues_ctx)  # (B, N)

    def z(v: torch.Tensor) -> torch.Tensor:
        mean, std = masked_moments(v, m, 1e-3)
        return (v - mean) / std

    feats = [z(central), q_topic.expand_as(central), z(cos_r)]
    return torch.stack(feats, -1) * m[..., None]  # (B, N, N_TOPIC)


def boundary_features(cues: torch.Tensor, cue_mask: torch.Tensor, cue_start: torch.Tensor,
                      cue_end: torch.Tensor) -> torch.Tensor:
    """(B, N, N_BOUNDARY) question-independent signs of a topic or step boundary around each unit: cosine
    with the previous and the next unit (0 at the video's ends), and the pause before and after it as
    log(1 + seconds) z-scored within the video (a long pause for this speaker, whatever their pace).
    cues (B, N, D) normalised unit vectors, cue_mask (B, N) bool, cue_start / cue_end (B, N) seconds."""
    m = cue_mask.float()  # (B, N)
    pair = m[:, 1:] * m[:, :-1]  # (B, N-1): both units real
    sim = (cues[:, 1:] * cues[:, :-1]).sum(-1) * pair  # (B, N-1): cos(unit k, unit k+1)
    gap = torch.log1p((cue_start[:, 1:] - cue_end[:, :-1]).clamp(min=0.0)) * pair  # (B, N-1)
    mean, std = masked_moments(gap, pair, 0.05)  # (B, 1) each
    gap_z = (gap - mean) / std * pair  # (B, N-1)
    pad = F.pad  # (left, right) on the last dim: "before" features are 0 on the first unit, "after" on the last
    feats = [pad(sim, (1, 0)), pad(sim, (0, 1)), pad(gap_z, (1, 0)), pad(gap_z, (0, 1))]
    return torch.stack(feats, -1) * m[..., None]  # (B, N, N_BOUNDARY)


@dataclass
class CueSpanOutput:
    """scores: (B, N, N) span scores, invalid cells = NEG_INF; valid: (B, N, N) bool; losses when labels were given."""

    scores: torch.Tensor
    valid: torch.Tensor
    band: torch.Tensor | None = None  # (B, N, W): band[b, i, o] = span [i, i + o]
    loss: torch.Tensor | None = None
    loss1: torch.Tensor | None = None
    loss2: torch.Tensor | None = None
    loss_highlight: torch.Tensor | None = None


def highlight_loss(u: torch.Tensor, cue_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of unit relevance logits u (B, N) against "unit inside the labelled span"
    for the positive rows (labels (B,) flat cells i * N + j of the (N, N) matrix, -100 = negative row);
    masked units are ignored. 0 when no row is positive."""
    n = u.shape[1]
    pos = labels >= 0  # (B,)
    i, j = (labels // n)[:, None], (labels % n)[:, None]  # (B, 1) each
    idx = torch.arange(n, device=u.device)[None]  # (1, N)
    inside = (idx >= i) & (idx <= j)  # (B, N)
    m = cue_mask & pos[:, None]  # (B, N)
    if not bool(m.any()):
        return u.sum() * 0.0
    return F.binary_cross_entropy_with_logits(u[m].float(), inside[m].float())


class CueSpanLoss(nn.Module):
    """Loss = Loss1 + contrastive_weight * Loss2.

    scores: (B, N, N) masked (invalid = NEG_INF); labels: (B,) flat cell i * N + j for a
    positive row, -100 for a negative row; groups: (B,) question id (rows of one question =
    its positive video and its negative videos). Loss1: mean cross-entropy over the positive
    rows' cells, against the target cell or, with ``iou`` (each cell's IoU with the answer, the scores'
    shape) and ``soft_label_iou`` t > 0, against the cells of IoU >= t weighted by their IoU.
    Loss2: for each positive row, cross-entropy over all cells of all rows of its group (the target
    cell in the positive row); 0 when no group has a negative.
    """

    def __init__(self, contrastive_weight: float = 1.0, soft_label_iou: float = 0.0) -> None:
        super().__init__()
        self.contrastive_weight = contrastive_weight
        self.soft_label_iou = soft_label_iou

    def forward(
        self, scores: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor | None = None,
        iou: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        flat = scores.reshape(scores.shape[0], -1).float()  # (B, N*N)
        pos = torch.nonzero(labels >= 0).flatten()  # (P,)
        if len(pos) == 0:
            zero = flat.sum() * 0.0
            return zero, zero, zero
        if iou is not None and self.soft_label_iou > 0:
            target = self.soft_targets(iou.reshape(iou.shape[0], -1)[pos].float(), labels[pos])  # (P, N*N)
            loss1 = -(target * F.log_softmax(flat[pos], dim=-1)).sum(-1).mean()
        else:
            loss1 = F.cross_entropy(flat[pos], labels[pos])
        loss2 = flat.sum() * 0.0
        if groups is not None and self.contrastive_weight:
            cells = flat.shape[1]
            terms = []
            for p in pos.tolist():
                rows = torch.nonzero(groups == groups[p]).flatten()  # (G,)
                if len(rows) < 2:
                    continue
                logits = flat[rows].reshape(-1)  # (G*N*N,)
                target = int((rows == p).nonzero()[0, 0]) * cells + int(labels[p])
                terms.append(torch.logsumexp(logits, 0) - logits[target])
            if terms:
                loss2 = torch.stack(terms).mean()
        return loss1 + self.contrastive_weight * loss2, loss1, loss2

    def soft_targets(self, iou: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(P, C) target distributions: cells with IoU >= ``soft_label_iou`` weighted by IoU, normalised; the
        label cell alone for a row where none reaches it. iou (P, C) (invalid cells 0), labels (P,)."""
        w = torch.where(iou >= self.soft_label_iou, iou, torch.zeros_like(iou))  # (P, C)
        hard = F.one_hot(labels, iou.shape[1]).to(w.dtype)  # (P, C)
        w = torch.where(w.sum(-1, keepdim=True) > 0, w, hard)
        return w / w.sum(-1, keepdim=True)


class _ConvBlock(nn.Module):
    """Residual depthwise conv (kernel k) + pointwise FF over the unit sequence."""

    def __init__(self, hidden: int, kernel: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.dw = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
        self.pw = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """h: (B, N, H), mask: (B, N) bool. Returns (B, N, H)."""
        x = self.norm(h).masked_fill(~mask[..., None], 0.0)  # (B, N, H)
        x = self.dw(x.transpose(1, 2)).transpose(1, 2)  # (B, N, H)
        return h + self.drop(self.pw(F.gelu(x)))


class CueSpanModel(nn.Module):
    """Question-cue interaction + global span head over precomputed unit embeddings (see module doc)."""

    def __init__(self, config: CueSpanConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or CueSpanConfig()
        h = cfg.hidden
        if cfg.unit_inputs not in ("full", "interaction", "scalar"):
            raise ValueError(f"unknown unit_inputs {cfg.unit_inputs!r}: use 'full', 'interaction' or 'scalar'")
        if cfg.unit_inputs == "full":
            self.cue_proj = nn.Linear(cfg.emb_dim, h)
        if cfg.unit_inputs != "scalar" or cfg.visual_dim:
            self.q_proj = nn.Linear(cfg.emb_dim, h)
        if cfg.unit_inputs != "scalar":
            self.qc_proj = nn.Linear(cfg.emb_dim, h)
        self.scalar_proj = nn.Linear(N_SCALAR + (N_BOUNDARY if cfg.boundary_features else 0)
                                     + (N_TOPIC if cfg.topic_features else 0), h)
        self.in_norm = nn.LayerNorm(h)
        self.drop = nn.Dropout(cfg.dropout)
        self.conv = _ConvBlock(h, cfg.conv_kernel, cfg.dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(h, cfg.n_heads, cfg.ff_dim, cfg.dropout, activation="gelu", batch_first=True, norm_first=True)
            for _ in range(cfg.n_layers)
        )
        self.out_norm = nn.LayerNorm(h)
        if cfg.highlight_weight and not cfg.use_span_sum:
            raise ValueError("highlight_weight trains the unit relevance of use_span_sum: set use_span_sum=true")
        if cfg.length_unit not in ("seconds", "fraction"):
            raise ValueError(f"unknown length_unit {cfg.length_unit!r}: use 'seconds' or 'fraction'")
        if cfg.rotary_position not in ("index", "share"):
            raise ValueError(f"unknown rotary_position {cfg.rotary_position!r}: use 'index' or 'share'")
        if cfg.span_head == "global":
            self.span_proj = nn.Linear(h, 2 * cfg.head_size)
        elif cfg.span_head == "independent":
            self.span_proj = nn.Linear(h, 2)
        else:
            raise ValueError(f"unknown span_head {cfg.span_head!r}")
        if cfg.visual_dim:
            self.vis_norm = nn.LayerNorm(cfg.visual_dim)
            self.vis_proj = nn.Linear(cfg.visual_dim, h)
            self.vis_q = nn.Linear(cfg.visual_dim, h)
        self.unit_score = nn.Linear(h, 1)
        self.offset_bias = nn.Embedding(cfg.max_span_cues, 1)
        self.len_bias = nn.Embedding(cfg.len_buckets, 1)
        nn.init.zeros_(self.offset_bias.weight)
        nn.init.zeros_(self.len_bias.weight)
        self.loss_fn = CueSpanLoss(cfg.contrastive_weight, cfg.soft_label_iou)

    @staticmethod
    def scalar_features(
        question: torch.Tensor,
        cues: torch.Tensor,
        cues_ctx: torch.Tensor,
        cue_mask: torch.Tensor,
        cue_start: torch.Tensor,
        cue_end: torch.Tensor,
        lexical: torch.Tensor,
        duration: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, N, N_SCALAR) per-unit features (see module doc); padding rows are zero.
        duration: (B,) video length in seconds (default: the last unit's end)."""
        m = cue_mask.float()  # (B, N)
        cos_c = torch.einsum("bd,bnd->bn", question, cues)  # (B, N)
        cos_x = torch.einsum("bd,bnd->bn", question, cues_ctx)  # (B, N)
        feats = [cos_c, cos_x]
        for v in (cos_c, cos_x):
            mean, std = masked_moments(v, m, 1e-3)  # (B, 1) each
            feats += [v - mean, (v - mean) / std]
        vmax = cos_x.masked_fill(~cue_mask, -1e4).max(1, keepdim=True).values  # (B, 1)
        lmax = lexical.masked_fill(~cue_mask, -1e4).max(1, keepdim=True).values
        dur_v = video_seconds(cue_end, cue_mask, duration)[:, None]  # (B, 1)
        feats += [
            cos_x - vmax,
            lexical,
            lexical - lmax,
            cue_start / dur_v,
            cue_end / dur_v,
            torch.log1p((cue_end - cue_start).clamp(min=0.0)) / 3.0,
        ]
        return torch.stack(feats, -1) * m[..., None]  # (B, N, N_SCALAR)

    def encode(
        self,
        question: torch.Tensor,
        cues: torch.Tensor,
        cues_ctx: torch.Tensor,
        cue_mask: torch.Tensor,
        cue_start: torch.Tensor,
        cue_end: torch.Tensor,
        lexical: torch.Tensor,
        duration: torch.Tensor | None = None,
        visual: torch.Tensor | None = None,
        visual_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-unit hidden states (B, N, H); visual (B, N, Dv) frames pooled per unit, visual_mask (B, N)."""
        scal = self.scalar_features(question, cues, cues_ctx, cue_mask, cue_start, cue_end, lexical, duration)  # (B, N, F)
        if self.config.boundary_features:
            scal = torch.cat([scal, boundary_features(cues, cue_mask, cue_start, cue_end)], -1)  # (B, N, F + 4)
        if self.config.topic_features:
            scal = torch.cat([scal, topic_features(question, cues_ctx, cue_mask)], -1)  # (B, N, F + 3)
        h = self.scalar_proj(scal)  # (B, N, H)
        q = self.q_proj(question)[:, None] if hasattr(self, "q_proj") else None  # (B, 1, H)
        if self.config.unit_inputs != "scalar":
            h = h + q * self.qc_proj(cues_ctx)  # question x unit interaction
        if self.config.unit_inputs == "full":
            h = h + self.cue_proj(cues_ctx)  # question-independent unit content
        if self.config.visual_dim and visual is not None:
            v = self.vis_norm(visual.float())  # (B, N, Dv)
            keep = (visual_mask if visual_mask is not None else cue_mask).float()[..., None]  # (B, N, 1)
            h = h + (self.vis_proj(v) + q * self.vis_q(v)) * keep  # (B, N, H)
        h = self.drop(F.gelu(self.in_norm(h)))
        h = self.conv(h, cue_mask)  # (B, N, H)
        for layer in self.layers:
            h = layer(h, src_key_padding_mask=~cue_mask)  # (B, N, H)
        return self.out_norm(h)

    def forward(
        self,
        question: torch.Tensor,
        cues: torch.Tensor,
        cue_mask: torch.Tensor,
        cue_start: torch.Tensor | None = None,
        cue_end: torch.Tensor | None = None,
        lexical: torch.Tensor | None = None,
        cues_ctx: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        groups: torch.Tensor | None = None,
        duration: torch.Tensor | None = None,
        visual: torch.Tensor | None = None,
        visual_mask: torch.Tensor | None = None,
        label_iou: torch.Tensor | None = None,
        return_full: bool = True,
    ) -> CueSpanOutput:
        """question (B, D), cues (B, N, D) normalized embeddings, cue_mask (B, N) bool; optional
        cue_start / cue_end (B, N) seconds (default: unit index, 1 s each), lexical (B, N),
        cues_ctx (B, N, D) (default: cues); duration (B,) video seconds (default:
        last unit end; pass it when the units are a crop of the video); visual (B, N, Dv) frame
        features pooled per unit and visual_mask (B, N) bool (units with frames; ignored by a text-only
        model); labels (B,) flat cell i * N + j or -100; groups (B,) question ids; label_iou (B, N, N) each
        span's IoU with the answer (read by Loss1 when ``soft_label_iou`` > 0).
        Scores are computed on the band of valid offsets (B, N, W = max_span_cues) and, with
        ``return_full``, scattered into (B, N, N); the loss always runs on the band (same cells)."""
        cfg = self.config
        b, n, _ = cues.shape
        if cue_start is None or cue_end is None:
            cue_start = torch.arange(n, device=cues.device, dtype=torch.float32)[None].expand(b, n)  # (B, N)
            cue_end = cue_start + 1.0
        cue_start, cue_end = cue_start.float(), cue_end.float()
        if lexical is None or not cfg.use_lexical:
            lexical = cues.new_zeros(b, n)  # (B, N)
        if cues_ctx is None:
            cues_ctx = cues
        if visual is not None and self.training and cfg.visual_dropout:
            keep_row = torch.rand(b, 1, device=cues.device) >= cfg.visual_dropout  # (B, 1): modality dropout
            visual_mask = (visual_mask if visual_mask is not None else cue_mask) & keep_row
        duration = video_seconds(cue_end, cue_mask, duration)  # (B,)
        h = self.encode(question, cues, cues_ctx, cue_mask, cue_start, cue_end, lexical, duration,
                        visual, visual_mask)  # (B, N, H)

        w = min(cfg.max_span_cues, n)
        band = self.band_scores(h, cue_mask, cue_start, cue_end, w, duration)  # (B, N, W): span i .. i+w
        valid_band = band_valid(cue_mask, w, cue_start, cue_end, cfg.max_span_seconds)  # (B, N, W)
        band = band.masked_fill(~valid_band, NEG_INF)  # (B, N, W)
        if return_full:
            scores, valid = band_to_full(band, valid_band)  # (B, N, N) each
        else:
            scores, valid = band, valid_band
        out = CueSpanOutput(scores=scores, valid=valid, band=band)
        if labels is not None:
            # labels are flat cells of the FULL matrix (i * N + j); the loss runs on the band (i * W + j - i)
            i, j = labels // n, labels % n  # (B,)
            band_labels = torch.where(labels >= 0, i * w + (j - i), labels)  # (B,)
            band_iou = None
            if label_iou is not None:
                jdx = band_end_index(n, w, cues.device).clamp(max=n - 1)  # (N, W)
                band_iou = label_iou.float().gather(2, jdx[None].expand(b, n, w)) * valid_band  # (B, N, W)
            out.loss, out.loss1, out.loss2 = self.loss_fn(band, band_labels, groups, band_iou)
            if cfg.highlight_weight:
                u = self.unit_score(h).squeeze(-1)  # (B, N): the same relevance the span sum adds
                out.loss_highlight = highlight_loss(u, cue_mask, labels)
                out.loss = out.loss + cfg.highlight_weight * out.loss_highlight
        return out

    def band_scores(
        self, h: torch.Tensor, cue_mask: torch.Tensor, cue_start: torch.Tensor, cue_end: torch.Tensor, w: int,
        duration: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, N, W) raw scores of spans [i, i + o], o < W (cells past the end are garbage; mask them).
        duration (B,): video seconds, read by a ``length_unit`` "fraction" or ``rotary_position`` "share" model
        (default: the last unit's end, see :func:`video_seconds`)."""
        cfg = self.config
        b, n, _ = h.shape
        seconds = video_seconds(cue_end, cue_mask, duration)  # (B,)
        jdx = band_end_index(n, w, h.device).clamp(max=n - 1)  # (N, W): end index
        if cfg.span_head == "global":
            x, y = self.span_proj(h).chunk(2, dim=-1)  # (B, N, d) each: end / start
            if cfg.use_rotary:
                if cfg.rotary_position == "share":
                    pos = 0.5 * (cue_start + cue_end) / seconds[:, None] * cfg.rotary_scale  # (B, N): unit middles
                else:
                    pos = torch.arange(n, device=h.device)  # (N,)
                x, y = rotary(x, pos), rotary(y, pos)
            xj = x[:, jdx]  # (B, N, W, d)
            scores = torch.einsum("bid,biwd->biw", y, xj) / math.sqrt(cfg.head_size)  # (B, N, W)
        else:
            se = self.span_proj(h)  # (B, N, 2)
            scores = se[:, :, 0, None] + se[:, jdx, 1]  # (B, N, W)
        if cfg.use_span_sum:
            u = self.unit_score(h).squeeze(-1) * cue_mask.float()  # (B, N)
            prefix = F.pad(torch.cumsum(u, 1), (1, 0))  # (B, N+1)
            scores = scores + prefix[:, jdx + 1] - prefix[:, :n, None]  # (B, N, W): sum u_i..u_j
        if cfg.use_length_bias:
            if cfg.use_offset_bias:
                scores = scores + self.offset_bias.weight[:w, 0][None, None]  # (B, N, W)
            length = cue_end[:, jdx] - cue_start[:, :, None]  # (B, N, W) seconds
            if cfg.length_unit == "fraction":
                lo, hi = cfg.min_len_frac, 1.0
                length = length / seconds[:, None, None]  # (B, N, W) share of the video
            else:
                lo, hi = cfg.min_len_s, cfg.max_len_s
            frac = (torch.log(length.clamp(min=lo, max=hi)) - math.log(lo)) / (math.log(hi) - math.log(lo))
            bucket = (frac * (cfg.len_buckets - 1)).round().long()  # (B, N, W)
            scores = scores + self.len_bias.weight[:, 0][bucket]  # (B, N, W)
        return scores.float()


class CueSpanEnsemble(nn.Module):
    """Several :class:`CueSpanModel` of one config (trained from different seeds), served as one: their
    span scores are averaged (a product of experts: each member's scores are comparable across the
    videos of one question, so their mean is too). Inference only: no loss.

    forward(**inputs) -> :class:`CueSpanOutput` with band (B, N, W) and scores the members' mean.
    """

    def __init__(self, members: list[CueSpanModel]) -> None:
        super().__init__()
        if not members:
            raise ValueError("a CueSpan ensemble needs at least one member")
        self.members = nn.ModuleList(members)
        self.config = members[0].config

    def forward(self, **inputs: torch.Tensor | bool | None) -> CueSpanOutput:
        if inputs.get("labels") is not None:
            raise ValueError("a CueSpan ensemble is for inference: train its members one by one")
        outs = [m(**inputs) for m in self.members]
        band = torch.stack([o.band for o in outs]).mean(0) if outs[0].band is not None else None  # (B, N, W)
        scores = torch.stack([o.scores for o in outs]).mean(0)  # (B, N, N) or (B, N, W)
        return CueSpanOutput(scores=scores, valid=outs[0].valid, band=band)


WEIGHTS_NAME = "model.safetensors"
MEMBER_PATTERN = "model-*.safetensors"  # further ensemble members: model-1.safetensors, model-2.safetensors, ...


def member_files(folder: str | Path) -> list[Path]:
    """The weight files of a CueSpan checkpoint folder: ``model.safetensors`` first, then the further
    ensemble members ``model-<k>.safetensors`` in order of k (an ensemble of one when there are none)."""
    folder = Path(folder)
    extra = []
    for path in folder.glob(MEMBER_PATTERN):
        k = path.name[len("model-"): -len(".safetensors")]
        if k.isdigit():
            extra.append((int(k), path))
    return [folder / WEIGHTS_NAME] + [p for _, p in sorted(extra)]


def load_cuespan(folder: str | Path) -> CueSpanModel | CueSpanEnsemble:
    """The model of a checkpoint folder (``config.json`` + :func:`member_files`, fp16 or fp32): one
    :class:`CueSpanModel`, or a :class:`CueSpanEnsemble` when the folder holds several members."""
    from safetensors.torch import load_file

    config = CueSpanConfig.from_json(Path(folder) / "config.json", strict=False)
    members = []
    for path in member_files(folder):
        model = CueSpanModel(config)
        model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
        members.append(model)
    return members[0] if len(members) == 1 else CueSpanEnsemble(members)
