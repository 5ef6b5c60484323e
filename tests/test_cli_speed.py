"""What keeps a one-shot `vcval ask` fast: the packaged MiniLM runs without importing transformers
(and gives transformers' vectors), and a question is embedded once per process."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from vcval.encoders import TextEncoder, _mean_pool_normalize


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load(device="cpu")


TRICKY = [
    "How do I put on a sling?",
    "",
    "   ",
    "a",
    "Ünïcödé naïve café — “quotes”, émojis 🙂 and 日本語 text",
    "don't over-tighten the bandage; check circulation (fingers warm & pink) every 10-15 min!",
    "word " * 600,  # truncated at max_length tokens
    " ".join(f"token{i}" for i in range(300)),
]


def test_packaged_minilm_matches_transformers(encoder):
    """Same token ids and the same vectors (to float rounding) as transformers' tokenizer + BertModel."""
    ref_tokenizer, ref_model = encoder.tokenizer, encoder.model  # transformers, loaded on first access
    fast_tokenizer = encoder._fast[0]
    batch = ref_tokenizer(TRICKY, padding=True, truncation=True, max_length=encoder.max_length, return_tensors="pt")
    ids, mask, types = fast_tokenizer.batch(TRICKY)
    np.testing.assert_array_equal(ids, batch["input_ids"].numpy())
    np.testing.assert_array_equal(mask, batch["attention_mask"].numpy())
    assert ids.shape[1] == encoder.max_length == 256
    with torch.inference_mode():
        ref = _mean_pool_normalize(ref_model(**batch).last_hidden_state, batch["attention_mask"]).numpy()
    np.testing.assert_allclose(encoder.encode(TRICKY), ref, atol=1e-5)


def test_loading_and_encoding_do_not_import_transformers():
    code = ("import sys, json; from vcval.encoders import TextEncoder; e = TextEncoder.load(device='cpu'); "
            "v = e.encode(['How do I put on a sling?']); "
            "print(json.dumps([v.shape[1], 'transformers' in sys.modules, 'sentence_transformers' in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [384, False, False]


def test_a_question_is_embedded_once(encoder, monkeypatch):
    calls: list[list[str]] = []
    real = encoder._hidden_states
    monkeypatch.setattr(encoder, "_hidden_states", lambda texts: calls.append(list(texts)) or real(texts))
    question = "Where do I tie the knot of an arm sling? (cache test)"
    first = encoder.encode([question])
    first[0, 0] = 123.0  # callers may write into what they got
    again = encoder.encode([question])
    assert calls == [[question]]
    np.testing.assert_allclose(again, encoder.encode([question, "another text"])[:1], atol=1e-5)
    assert len(calls) == 2  # batches are not cached
