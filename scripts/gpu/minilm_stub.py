"""Stand-in for the PyPI package on the device machine: the model folder is rebuilt in fp32 at $VCVAL_MINILM_DIR."""
import os
from pathlib import Path


def get_model_path() -> Path:
    return Path(os.environ["VCVAL_MINILM_DIR"])
