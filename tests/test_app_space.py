"""The Space files: static checks of scripts/check_space.py, and LFS rules that leave plain git alone."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _check_space():
    spec = importlib.util.spec_from_file_location("check_space", ROOT / "scripts" / "check_space.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_space_static_checks_pass():
    cs = _check_space()
    assert cs.check_readme() == [] and cs.check_dockerfile() == [] and cs.check_dockerignore() == []
    assert cs.check_lfs() == [] and cs.check_package_data() == []
    assert cs.main([]) == 0


def test_lfs_rules_cover_media_and_weights_and_leave_git_alone():
    out = subprocess.run(["git", "check-attr", "filter", "assets/demo/arm-sling.mp4", "checkpoints/model.safetensors",
                          "vcval/app.py"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.count(": filter: lfs") == 2 and "vcval/app.py: filter: unspecified" in out
    # without git-lfs the filter is not defined, so git reads the files as they are: nothing shows as modified
    status = subprocess.run(["git", "status", "--porcelain", "--", "assets", "checkpoints"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    assert all(not line.endswith((".mp4", ".safetensors")) for line in status.splitlines()), status
