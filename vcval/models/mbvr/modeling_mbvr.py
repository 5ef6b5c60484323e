"""MBVR: a modality-balanced multimodal video embedding (Wang et al., "Modality-Balanced Embedding for Video
Retrieval", SIGIR 2022), small and CPU-trainable.

- Query tower: the frozen sentence vector of the question (packaged MiniLM, 384-d) -> a residual MLP ->
  L2-normalised (B, H).
- Video tower: [CLS, text tokens (title + transcript-window sentence vectors, projected), frame tokens
  (visual features, layer-normed and projected)] + modality-type embeddings -> a small transformer encoder
  -> the CLS output, projected and L2-normalised (B, H). Missing modalities are masked (a transcript-only
  video has no frame tokens), so one checkpoint embeds text-only, vision-only and full videos.
  With ``text_skip``, a linear skip of the mean text token is added before the normalisation (and of the
  question vector in the query tower), both starting as the identity: untrained towers = mean-pooled MiniLM.
- Relevance: the inner product of the two embeddings.
- Loss (:class:`MBVRLoss`): in-batch softmax cross-entropy (InfoNCE; duplicate positives masked) + the
  modality-shuffled-negative hinge with a dynamic margin (see :class:`~vcval.models.mbvr.MBVRConfig`).

Checkpoint folder: ``config.json`` (:class:`MBVRConfig`), ``model.safetensors`` (fp16), ``mbvr.json`` (what
it was trained on, dev metrics: the marker :func:`load_mbvr` checks).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vcval.errors import NotFoundError
from vcval.models.mbvr.configuration_mbvr import MBVRConfig

MBVR_MARKER = "mbvr.json"
MBVR_ENV = "VCVAL_MBVR"
MBVR_HOW = "train one with `vcval train mbvr --config configs/mbvr.json`"
TYPE_CLS, TYPE_TEXT, TYPE_VISUAL = 0, 1, 2


# --------------------------------------------------------------------------- inputs
def pool_tokens(x: np.ndarray, n: int) -> np.ndarray:
    """(T, D) -> (min(T, n), D): the mean of each of ``n`` contiguous, near-equal groups of rows (T <= n: as is)."""
    x = np.asarray(x, np.float32)
    if len(x) <= n:
        return x
    bounds = np.linspace(0, len(x), n + 1).round().astype(int)
    return np.stack([x[a:b].mean(0) for a, b in zip(bounds[:-1], bounds[1:])]).astype(np.float32)


@dataclass(frozen=True)
class VideoInputs:
    """One video's tower inputs: text (Lt, text_dim) sentence vectors (title first, then windows in time
    order; Lt may be 0) and frames (Lf, visual_dim) or None, both already pooled to the config's limits."""

    text: np.ndarray
    frames: np.ndarray | None

    @property
    def has_frames(self) -> bool:
        return self.frames is not None and len(self.frames) > 0


def prepare_video(text: np.ndarray, frames: np.ndarray | None, cfg: MBVRConfig) -> VideoInputs:
    """Pool a video's text vectors (L, text_dim) and frames (T, D) to ``cfg``'s limits. Frames of another
    size than ``cfg.visual_dim`` (or any frames for a text-only config) are dropped: the video is text-only."""
    text = pool_tokens(np.asarray(text, np.float32).reshape(-1, cfg.text_dim), cfg.max_text_tokens)
    if frames is None or not cfg.use_visual or np.ndim(frames) != 2 or np.shape(frames)[1] != cfg.visual_dim \
            or len(frames) == 0:
        return VideoInputs(text, None)
    return VideoInputs(text, pool_tokens(frames, cfg.max_frames))


def batch_videos(videos: Sequence[VideoInputs], cfg: MBVRConfig, *, frames_of: Sequence[int] | None = None,
                 drop_text: Sequence[bool] | None = None, drop_frames: Sequence[bool] | None = None
                 ) -> dict[str, torch.Tensor]:
    """Padded tensors for :meth:`MBVRModel.embed_videos`: text (B, Lt, Dt), text_mask (B, Lt), frames
    (B, Lf, Dv), frame_mask (B, Lf) (masks True = a real token; Lt, Lf >= 1).

    ``frames_of[i]``: take row i's frames from video ``frames_of[i]`` (modality-shuffled negatives; -1 = none).
    ``drop_text`` / ``drop_frames``: mask that modality of row i (modality dropout, the balance diagnostics).
    """
    b = len(videos)
    frames = [videos[j].frames if (frames_of is None or j >= 0) else None
              for j in (range(b) if frames_of is None else frames_of)]
    frames = [None if (drop_frames is not None and drop_frames[i]) else f for i, f in enumerate(frames)]
    texts = [None if (drop_text is not None and drop_text[i]) else v.text for i, v in enumerate(videos)]
    lt = max([1] + [len(t) for t in texts if t is not None])
    lf = max([1] + [len(f) for f in frames if f is not None])
    text = torch.zeros(b, lt, cfg.text_dim)
    text_mask = torch.zeros(b, lt, dtype=torch.bool)
    vis = torch.zeros(b, lf, cfg.visual_dim)
    vis_mask = torch.zeros(b, lf, dtype=torch.bool)
    for i, (t, f) in enumerate(zip(texts, frames)):
        if t is not None and len(t):
            text[i, :len(t)] = torch.from_numpy(t)
            text_mask[i, :len(t)] = True
        if f is not None and len(f):
            vis[i, :len(f)] = torch.from_numpy(f)
            vis_mask[i, :len(f)] = True
    return {"text": text, "text_mask": text_mask, "frames": vis, "frame_mask": vis_mask}


def shuffle_partners(video_keys: Sequence[Any], has_frames: Sequence[bool], rng: np.random.Generator) -> np.ndarray:
    """For each row i with frames, a row j != i of ANOTHER video (``video_keys[j] != video_keys[i]``) that has
    frames, drawn uniformly; -1 where there is none (row i without frames, or no other video with frames).
    Row i's text with row j's frames is i's modality-shuffled negative. Returns (B,) int64."""
    keys = list(video_keys)
    out = np.full(len(keys), -1, np.int64)
    for i, key in enumerate(keys):
        if not has_frames[i]:
            continue
        pool = [j for j, k in enumerate(keys) if has_frames[j] and k != key]
        if pool:
            out[i] = pool[int(rng.integers(len(pool)))]
    return out


# --------------------------------------------------------------------------- model
class MBVRModel(nn.Module):
    """The query tower and the video tower (see the module docstring)."""

    def __init__(self, config: MBVRConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.query_skip = nn.Linear(config.text_dim, h, bias=False)
        self.query_mlp = nn.Sequential(nn.Linear(config.text_dim, h), nn.GELU(), nn.Linear(h, h))
        self.text_proj = nn.Linear(config.text_dim, h)
        self.visual_norm = nn.LayerNorm(config.visual_dim)
        self.visual_proj = nn.Linear(config.visual_dim, h)
        self.cls = nn.Parameter(torch.randn(1, 1, h) * 0.02)
        self.type_emb = nn.Embedding(3, h)
        layer = nn.TransformerEncoderLayer(h, config.n_heads, config.ff_dim, config.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(h)
        self.out = nn.Linear(h, h)
        self.text_skip = nn.Linear(config.text_dim, h, bias=False) if config.text_skip else None
        if self.text_skip is not None and config.text_dim == h:
            with torch.no_grad():  # start from cos(question, mean window vector)
                self.query_skip.weight.copy_(torch.eye(h))
                self.text_skip.weight.copy_(torch.eye(h))
                for lin in (self.query_mlp[-1],):
                    assert isinstance(lin, nn.Linear)
                    lin.weight.zero_()
                    lin.bias.zero_()
        self._fingerprint: str | None = None

    def embed_queries(self, queries: torch.Tensor) -> torch.Tensor:
        """Sentence vectors (B, text_dim) -> L2-normalised query embeddings (B, H)."""
        q = self.query_skip(queries) + self.query_mlp(queries)  # (B, H)
        return nn.functional.normalize(q, dim=-1)

    def embed_videos(self, text: torch.Tensor, text_mask: torch.Tensor, frames: torch.Tensor,
                     frame_mask: torch.Tensor) -> torch.Tensor:
        """Text tokens (B, Lt, text_dim) + frames (B, Lf, visual_dim) with their masks (True = real) ->
        L2-normalised video embeddings (B, H). A text-only config ignores the frames."""
        b = text.shape[0]
        if not self.config.use_visual:
            frame_mask = torch.zeros_like(frame_mask)
        types = self.type_emb.weight  # (3, H)
        t = self.text_proj(text) + types[TYPE_TEXT]  # (B, Lt, H)
        v = self.visual_proj(self.visual_norm(frames)) + types[TYPE_VISUAL]  # (B, Lf, H)
        cls = self.cls.expand(b, 1, -1) + types[TYPE_CLS]  # (B, 1, H)
        x = torch.cat([cls, t, v], dim=1)  # (B, 1 + Lt + Lf, H)
        valid = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=text.device), text_mask, frame_mask], dim=1)
        x = self.encoder(x, src_key_padding_mask=~valid)  # (B, S, H)
        y = self.out(self.out_norm(x[:, 0]))  # (B, H)
        if self.text_skip is not None:
            m = text_mask.unsqueeze(-1).to(text.dtype)  # (B, Lt, 1)
            y = y + self.text_skip((text * m).sum(1) / m.sum(1).clamp(min=1.0))  # + mean text token (B, H)
        return nn.functional.normalize(y, dim=-1)  # (B, H)

    def forward(self, queries: torch.Tensor, text: torch.Tensor, text_mask: torch.Tensor, frames: torch.Tensor,
                frame_mask: torch.Tensor) -> torch.Tensor:
        """Relevance (B, N) of B queries (B, text_dim) to N videos (the :func:`batch_videos` tensors)."""
        return self.embed_queries(queries) @ self.embed_videos(text, text_mask, frames, frame_mask).T

    # ------------------------------------------------------------------ inference helpers
    @torch.no_grad()
    def encode_videos(self, videos: Sequence[VideoInputs], batch_size: int = 64, *, drop_text: bool = False,
                      drop_frames: bool = False) -> np.ndarray:
        """(N, H) float32 video embeddings in eval mode; ``drop_*`` mask a modality for every video
        (the modality-balance diagnostics: retrieval with text removed / with vision removed)."""
        self.eval()
        out = np.zeros((len(videos), self.config.hidden), np.float32)
        for s in range(0, len(videos), batch_size):
            chunk = list(videos[s:s + batch_size])
            inp = batch_videos(chunk, self.config, drop_text=[drop_text] * len(chunk),
                               drop_frames=[drop_frames] * len(chunk))
            dev = self.cls.device
            out[s:s + len(chunk)] = self.embed_videos(**{k: v.to(dev) for k, v in inp.items()}).float().cpu().numpy()
        return out

    @torch.no_grad()
    def encode_queries(self, vectors: np.ndarray) -> np.ndarray:
        """Sentence vectors (Q, text_dim) -> (Q, H) float32 query embeddings (eval mode)."""
        self.eval()
        x = torch.as_tensor(np.asarray(vectors, np.float32), device=self.cls.device)
        return self.embed_queries(x).float().cpu().numpy()

    # ------------------------------------------------------------------ checkpoints
    @property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex) of the config and weights: keys caches of video embeddings."""
        if self._fingerprint is None:
            h = hashlib.sha256(json.dumps(self.config.to_dict(), sort_keys=True).encode())
            for k, v in sorted(self.state_dict().items()):
                h.update(k.encode())
                h.update(v.detach().to(torch.float16).cpu().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def save_pretrained(self, folder: str | os.PathLike, record: dict[str, Any] | None = None) -> Path:
        """Write ``config.json``, fp16 ``model.safetensors`` and the ``mbvr.json`` marker (``record``) to ``folder``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
        self.config.to_json(folder / "config.json")
        (folder / MBVR_MARKER).write_text(json.dumps({"kind": "mbvr", **(record or {})}, indent=1), encoding="utf-8")
        self._fingerprint = None
        return folder

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, *, revision: str | None = None,
                        device: str = "cpu") -> MBVRModel:
        """Load a checkpoint folder (or a Hub repo id at ``revision``: opt-in network), in eval mode."""
        from safetensors.torch import load_file

        from vcval.config import local_or_hub_folder
        from vcval.utils import resolve_device

        folder = local_or_hub_folder(os.fspath(path), revision, what="MBVR checkpoint", how=MBVR_HOW,
                                     allow_patterns=["config.json", "model.safetensors", MBVR_MARKER])
        for name in ("config.json", "model.safetensors", MBVR_MARKER):
            if not (folder / name).is_file():
                raise NotFoundError(f"{folder} is not an MBVR checkpoint (no {name}); {MBVR_HOW}")
        model = cls(MBVRConfig.from_json(folder / "config.json", strict=False))
        model.load_state_dict({k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()})
        return model.to(resolve_device(device)).eval()


def load_mbvr(checkpoint: str | os.PathLike | None = None, *, revision: str | None = None,
              device: str = "cpu") -> MBVRModel:
    """The MBVR towers trained by ``vcval train mbvr``: ``checkpoint`` (a folder or Hub id), else ``$VCVAL_MBVR``;
    NotFoundError saying how to train one when neither is given."""
    raw = os.fspath(checkpoint) if checkpoint is not None else os.environ.get(MBVR_ENV, "").strip()
    if not raw:
        raise NotFoundError(
            "method 'mbvr' needs trained MBVR towers and this install ships none: train them with "
            "`vcval train mbvr --config configs/mbvr.json` (writes runs/mbvr/best), then pass "
            f"--checkpoint runs/mbvr/best or set {MBVR_ENV}=runs/mbvr/best")
    return MBVRModel.from_pretrained(raw, revision=revision, device=device)


# --------------------------------------------------------------------------- loss
@dataclass
class MBVRLossOutput:
    """loss = infonce + shuffled_weight * shuffled; acc: (B,) bool, the positive ranked first in-batch."""

    loss: torch.Tensor
    infonce: torch.Tensor
    shuffled: torch.Tensor
    margin: torch.Tensor
    acc: torch.Tensor


def shuffled_margins(queries: torch.Tensor, vision_only: torch.Tensor, cfg: MBVRConfig) -> torch.Tensor:
    """Per-row hinge margins (B,): dynamic ``margin * sigmoid(gamma * cos(q_i, vision-only v_i))`` (no gradient),
    or the static ``margin * 0.5`` when ``cfg.dynamic_margin`` is False. queries, vision_only: (B, H) normalised."""
    if not cfg.dynamic_margin:
        return torch.full((queries.shape[0],), 0.5 * cfg.margin, device=queries.device)
    r = (queries * vision_only).sum(-1).detach()  # (B,)
    return cfg.margin * torch.sigmoid(cfg.margin_gamma * r)


class MBVRLoss(nn.Module):
    """In-batch InfoNCE + the modality-shuffled-negative hinge.

    InfoNCE: queries (B, H) against docs (N >= B, H) whose first B rows are the positives, ``doc_keys`` (N,)
    naming each doc's video (another copy of a query's video is masked, not a negative); the docs may have
    had a modality dropped (modality dropout).
    Shuffled hinge over the rows with a partner (``valid`` (B,) bool): mean_i max(0, m_i - (q_i . v_i -
    q_i . v~_i)), v_i the full video (B, H), v~_i its text with another video's frames (B, H), m_i from
    :func:`shuffled_margins` with ``vision_only`` (B, H) (the video with its text masked).
    """

    def __init__(self, config: MBVRConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, queries: torch.Tensor, docs: torch.Tensor, doc_keys: Sequence[Any],
                full: torch.Tensor | None = None, shuffled: torch.Tensor | None = None,
                vision_only: torch.Tensor | None = None, valid: torch.Tensor | None = None) -> MBVRLossOutput:
        from vcval.models.losses import in_batch_loss

        cfg = self.config
        infonce, acc = in_batch_loss(queries, docs, list(doc_keys), cfg.scale)
        zero = queries.new_zeros(())
        hinge, mean_margin = zero, zero
        if cfg.use_shuffled and full is not None and shuffled is not None and valid is not None and bool(valid.any()):
            vis = vision_only if vision_only is not None else full
            margins = shuffled_margins(queries, vis, cfg)[valid]  # (S,)
            gap = ((queries * full).sum(-1) - (queries * shuffled).sum(-1))[valid]  # (S,)
            hinge = torch.relu(margins - gap).mean()
            mean_margin = margins.mean()
        return MBVRLossOutput(infonce + cfg.shuffled_weight * hinge, infonce, hinge, mean_margin, acc)
