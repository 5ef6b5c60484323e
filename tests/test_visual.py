"""Tests for vcval.ingest.visual: EfficientNet-Lite0 features from frames and videos."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from vcval.errors import InvalidInputError
from vcval.ingest.visual import ImageEncoder, extract_visual_features


@pytest.fixture(scope="module")
def encoder() -> ImageEncoder:
    return ImageEncoder.load(device="cpu")


def _frames(n: int, h: int = 224, w: int = 224, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


def test_encode_shape_dtype_and_determinism(encoder):
    frames = _frames(2)
    a = encoder.encode(frames)
    b = encoder.encode(frames)
    assert a.shape == (2, ImageEncoder.dim) == (2, 1280) and a.dtype == np.float32
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # different images, different features


def test_encode_batching_and_resizing(encoder):
    frames = _frames(3, h=120, w=160, seed=1)
    encoder_small = ImageEncoder(encoder.model, encoder.device, batch_size=2)
    full = encoder.encode(frames)
    np.testing.assert_allclose(encoder_small.encode(frames), full, rtol=1e-4, atol=1e-4)
    assert encoder.encode(frames[:0]).shape == (0, 1280)


def test_encode_rejects_bad_shape(encoder):
    with pytest.raises(InvalidInputError, match=r"\(T, H, W, 3\)"):
        encoder.encode(np.zeros((224, 224, 3), dtype=np.uint8))


_GRADIO = importlib.util.find_spec("gradio")  # locate its sample image without importing gradio (slow)
CHEETAH = Path(_GRADIO.origin).parent / "media_assets" / "images" / "cheetah1.jpg" if _GRADIO else Path("-")


@pytest.mark.skipif(not CHEETAH.is_file(), reason="gradio's sample image is not installed")
def test_pretrained_weights_recognise_a_cheetah(encoder):
    """The pooled features are the classifier's input: ImageNet class 293 is 'cheetah'."""
    from PIL import Image

    img = Image.open(CHEETAH).convert("RGB")
    w, h = img.size
    side = min(w, h)
    img = img.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2)).resize((224, 224))
    feats = encoder.encode(np.asarray(img)[None])
    with torch.inference_mode():
        logits = encoder.model._fc(torch.from_numpy(feats))
    assert int(logits.argmax()) == 293


def test_extract_visual_features_from_video(video_factory, encoder):
    video = video_factory("v.mp4", seconds=4.0, audio=False)
    feats = extract_visual_features(video, encoder, fps=1.0)
    assert feats.shape == (4, 1280) and feats.dtype == np.float32
    half = extract_visual_features(video, encoder, fps=0.5)
    assert half.shape == (2, 1280)
    np.testing.assert_allclose(half[0], feats[0], rtol=1e-4, atol=1e-4)  # both start at t = 0
