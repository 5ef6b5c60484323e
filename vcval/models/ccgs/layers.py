"""Building blocks of CCGS: cue pooling, rotary positions, cross-modal fusion, span heads."""
from __future__ import annotations

import math

import torch
from torch import nn

from vcval.localization.spans import align_steps_to_cues


def pool_cues(
    hidden: torch.Tensor,
    token_cue: torch.Tensor,
    sep_cue: torch.Tensor,
    n_cues: int,
    mode: str = "mean",
) -> torch.Tensor:
    """Merge token vectors of all windows into one vector per cue.

    hidden: (W, L, H) encoder output; token_cue / sep_cue: (W, L) flat cue index or -1.
    mode "mean": mean over the cue's tokens and its closing [SEP] in every window it appears in;
    mode "sep": mean of the [SEP] vectors that close the cue's pieces. Returns (n_cues, H).
    """
    if mode == "mean":
        idx = torch.where(token_cue >= 0, token_cue, sep_cue)
    elif mode == "sep":
        idx = sep_cue
    else:
        raise ValueError(f"unknown cue pooling {mode!r}; use 'mean' or 'sep'")
    h = hidden.reshape(-1, hidden.shape[-1])  # (W*L, H)
    flat = idx.reshape(-1)
    keep = flat >= 0
    sums = hidden.new_zeros(n_cues, hidden.shape[-1]).index_add_(0, flat[keep], h[keep])  # (n_cues, H)
    counts = hidden.new_zeros(n_cues).index_add_(0, flat[keep], torch.ones_like(flat[keep], dtype=hidden.dtype))
    return sums / counts.clamp(min=1.0)[:, None]


def pool_question(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    token_cue: torch.Tensor,
    sep_cue: torch.Tensor,
    window_pair: torch.Tensor,
    n_pairs: int,
) -> torch.Tensor:
    """One question vector per (question, video) pair: the mean of the non-cue tokens
    ([CLS] question [SEP]) over all of the pair's windows.

    hidden: (W, L, H); attention_mask, token_cue, sep_cue: (W, L); window_pair: (W,) pair index.
    Returns (n_pairs, H).
    """
    is_q = (attention_mask > 0) & (token_cue < 0) & (sep_cue < 0)  # (W, L)
    w = is_q.to(hidden.dtype)
    per_window = (hidden * w[..., None]).sum(1)  # (W, H)
    sums = hidden.new_zeros(n_pairs, hidden.shape[-1]).index_add_(0, window_pair, per_window)
    counts = hidden.new_zeros(n_pairs).index_add_(0, window_pair, w.sum(1))
    return sums / counts.clamp(min=1.0)[:, None]


def rotary(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """Rotary ("spiral") position embedding, interleaved pairs as in RoFormer.

    x: (B, N, d) with even d; positions: (N,) or (B, N) (cue indexes). Returns (B, N, d).
    <rotary(q, i), rotary(k, j)> depends on i and j only through j - i.
    """
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rotary needs an even head size, got {d}")
    inv = base ** (-torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d)  # (d/2,)
    pos = positions.float()
    if pos.dim() == 1:
        pos = pos[None]
    ang = pos[..., None] * inv  # (B|1, N, d/2)
    cos = torch.cos(ang).repeat_interleave(2, -1).to(x.dtype)  # (B|1, N, d)
    sin = torch.sin(ang).repeat_interleave(2, -1).to(x.dtype)
    x2 = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).reshape_as(x)  # pairwise rotate by 90 degrees
    return x * cos + x2 * sin


class ContextQueryAttention(nn.Module):
    """Context-query attention between visual steps (context) and cue vectors (query).

    Trilinear similarity S = w^T [c; q; c*q]; A = softmax_row(S) Q; B = softmax_row(S)
    softmax_col(S)^T C; output Linear([C; A; C*A; C*B]) (the context-query concatenation).
    """

    def __init__(self, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.w_c = nn.Linear(hidden, 1, bias=False)
        self.w_q = nn.Linear(hidden, 1, bias=False)
        self.w_cq = nn.Parameter(torch.empty(hidden).uniform_(-1 / math.sqrt(hidden), 1 / math.sqrt(hidden)))
        self.out = nn.Linear(4 * hidden, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ctx: torch.Tensor, qry: torch.Tensor, ctx_mask: torch.Tensor, qry_mask: torch.Tensor) -> torch.Tensor:
        """ctx: (B, T, H), qry: (B, N, H), masks bool (B, T) / (B, N). Returns (B, T, H)."""
        s = self.w_c(ctx) + self.w_q(qry).transpose(1, 2) + torch.einsum("bth,bnh->btn", ctx * self.w_cq, qry)  # (B, T, N)
        neg = torch.finfo(s.dtype).min
        s_r = torch.softmax(s.masked_fill(~qry_mask[:, None, :], neg), dim=2)  # (B, T, N) over cues
        s_c = torch.softmax(s.masked_fill(~ctx_mask[:, :, None], neg), dim=1)  # (B, T, N) over steps
        a = torch.bmm(s_r, qry)  # (B, T, H)
        b = torch.bmm(torch.bmm(s_r, s_c.transpose(1, 2)), ctx)  # (B, T, H)
        return self.out(self.dropout(torch.cat([ctx, a, ctx * a, ctx * b], dim=-1)))


class VisualFusion(nn.Module):
    """Cross-modal fusion (Eq. 1-4): project visual features, attend to cues, highlight, add to cues.

    The fused visual signal enters the cue vectors through a learned per-dimension tanh gate that
    starts at zero, so an untrained visual branch leaves a text-trained model unchanged.
    """

    def __init__(self, visual_dim: int, hidden: int, fps: float = 1.0, dropout: float = 0.1) -> None:
        super().__init__()
        self.fps = fps
        self.proj = nn.Sequential(nn.Linear(visual_dim, hidden), nn.LayerNorm(hidden), nn.Dropout(dropout))
        self.cqa = ContextQueryAttention(hidden, dropout)
        self.highlight = nn.Linear(hidden, 1)
        self.gate = nn.Parameter(torch.zeros(hidden))

    def forward(
        self,
        cues: torch.Tensor,
        cue_mask: torch.Tensor,
        cue_start: torch.Tensor,
        cue_end: torch.Tensor,
        features: torch.Tensor,
        feature_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cues: (B, N, H); features: (B, T, D). Returns fused cues (B, N, H) and highlight (B, T) in [0, 1]."""
        v = self.proj(features.to(cues.dtype))  # (B, T, H)
        fused = self.cqa(v, cues, feature_mask, cue_mask)  # (B, T, H)
        hl = torch.sigmoid(self.highlight(fused).squeeze(-1)).masked_fill(~feature_mask, 0.0)  # (B, T)
        align = align_steps_to_cues(cue_start, cue_end, feature_mask, self.fps).to(cues.dtype)  # (B, N, T)
        per_cue = torch.bmm(align, fused * hl[..., None])  # (B, N, H)
        return cues + torch.tanh(self.gate) * per_cue, hl


class GlobalSpanHead(nn.Module):
    """Split linear layer -> X (end) and Y (start) per cue; rotary over cue index; score = <Y_i, X_j>."""

    def __init__(self, hidden: int, head_size: int = 64, use_rotary: bool = True) -> None:
        super().__init__()
        self.head_size = head_size
        self.use_rotary = use_rotary
        self.proj = nn.Linear(hidden, 2 * head_size)

    def forward(self, cues: torch.Tensor) -> torch.Tensor:
        """cues: (B, N, H). Returns raw scores (B, N, N), [b, i, j] for start i, end j."""
        x, y = self.proj(cues).float().chunk(2, dim=-1)  # (B, N, d) each
        if self.use_rotary:
            pos = torch.arange(cues.shape[1], device=cues.device)
            x, y = rotary(x, pos), rotary(y, pos)
        return torch.einsum("bid,bjd->bij", y, x) / math.sqrt(self.head_size)  # (B, N, N)


class IndependentSpanHead(nn.Module):
    """Ablation: independent start / end scores, score[i, j] = start_i + end_j (no span interaction)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, 2)

    def forward(self, cues: torch.Tensor) -> torch.Tensor:
        """cues: (B, N, H). Returns (B, N, N)."""
        se = self.proj(cues).float()  # (B, N, 2)
        return se[:, :, 0, None] + se[:, None, :, 1]
