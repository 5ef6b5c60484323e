"""Check that the repository deploys as a Hugging Face Space (docker SDK), without docker.

    python scripts/check_space.py            # static checks of the files the image is built from
    python scripts/check_space.py --start    # + install into a clean venv and start the app as the image does

Static checks: the README's Space header; the Dockerfile (CPU torch wheel, public mode, the demo
corpus built and the default model exported to ONNX at build time, persistent storage, the start command); every tracked binary (media,
weights, anything with NUL bytes or over 10 MB) is covered by an LFS rule of ``.gitattributes``;
``.dockerignore`` keeps what the image needs. ``--start`` does what the image does in a fresh
venv (install with the constraints, build the demo corpus, ``vcval export``, ``python app.py`` in public
mode) and checks the served API lists only the public endpoints and that the app serves on the ONNX export. Exit code 0 when every check passes.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("check_space")
BINARY_EXT = {".mp4", ".webm", ".mkv", ".mov", ".wav", ".safetensors", ".bin", ".pt", ".onnx", ".npy", ".npz"}
HUB_LIMIT = 10 * 1024 * 1024
PUBLIC_ENDPOINTS = {"/ask", "/feedback", "/list_videos"}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def check_readme() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        return ["README.md has no Space header (--- ... ---)"]
    head = dict(line.split(":", 1) for line in m.group(1).splitlines() if ":" in line)
    head = {k.strip(): v.strip() for k, v in head.items()}
    errors = []
    if head.get("sdk") != "docker":
        errors.append(f"README header: sdk is {head.get('sdk')!r}, want docker")
    if head.get("app_port") != "7860":
        errors.append(f"README header: app_port is {head.get('app_port')!r}, want 7860")
    if "Deploy to Hugging Face Spaces" not in text:
        errors.append("README has no 'Deploy to Hugging Face Spaces' section")
    return errors


def check_dockerfile() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    want = {
        "the CPU torch wheel by default": r"ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu",
        "torch pinned as in constraints.txt": r"torch==2\.13\.0 --index-url",
        "installs with -c constraints.txt": r"-c constraints\.txt -r requirements\.txt",
        "public mode on": r"VCVAL_PUBLIC=1",
        "persistent storage (/data) used when present": r"VCVAL_PERSISTENT_DIR=/data",
        "the demo corpus built at build time": r"RUN python -c \"from vcval\.demo import ensure_demo_corpus",
        "the default model exported to ONNX at build time": r"RUN vcval export",
        "binds 0.0.0.0:7860": r"GRADIO_SERVER_NAME=0\.0\.0\.0 GRADIO_SERVER_PORT=7860",
        "runs as uid 1000": r"useradd -m -u 1000",
        "starts app.py": r'CMD \["python", "app.py"\]',
    }
    return [f"Dockerfile: {what} ({pattern!r} not found)" for what, pattern in want.items()
            if not re.search(pattern, text)]


def check_lfs() -> list[str]:
    files = [f for f in _git("ls-files", "-z").split("\0") if f]
    suspects = []
    for f in files:
        p = ROOT / f
        if not p.is_file():
            continue
        big = p.stat().st_size > HUB_LIMIT
        with open(p, "rb") as fh:
            binary = b"\0" in fh.read(8192)
        if p.suffix.lower() in BINARY_EXT or big or binary:
            suspects.append(f)
    if not suspects:
        return []
    out = subprocess.run(["git", "check-attr", "filter", "--stdin"], cwd=ROOT, input="\n".join(suspects) + "\n",
                         capture_output=True, text=True, check=True).stdout
    covered = {line.split(": filter: ")[0] for line in out.splitlines() if line.endswith(": filter: lfs")}
    missing = sorted(set(suspects) - covered)
    logger.info("%d tracked binaries, %d covered by LFS rules", len(suspects), len(covered))
    return [f".gitattributes: {f} is binary or large but not stored with LFS" for f in missing]


def check_dockerignore() -> list[str]:
    ignored = [line.strip().strip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    needed = ["app.py", "vcval", "assets", "checkpoints", "pyproject.toml", "requirements.txt", "constraints.txt"]
    return [f".dockerignore excludes {n}, which the image needs" for n in needed if n in ignored]


def check_package_data() -> list[str]:
    errors = []
    for pattern in ("assets/demo/*.mp4", "assets/demo/*.srt", "assets/demo/catalog.json", "assets/demo/app.json",
                    "checkpoints/model.safetensors", "checkpoints/cuespan/model.safetensors",
                    "checkpoints/cuespan/question_tower/delta.safetensors"):
        if not list(ROOT.glob(pattern)):
            errors.append(f"missing {pattern}")
    return errors


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_in_clean_venv(timeout: float) -> list[str]:
    """Install like the image into a fresh venv, build the demo corpus, export the default model, start app.py;
    check the API and that it serves on the ONNX export."""
    work = Path(tempfile.mkdtemp(prefix="vcval-space-"))
    venv, home = work / "venv", work / "home"
    py = venv / "bin" / "python"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("VCVAL_", "GRADIO_"))},
           "VCVAL_HOME": str(home), "VCVAL_PUBLIC": "1", "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False",
           "VCVAL_PERSISTENT_DIR": str(work / "data")}
    (work / "data").mkdir()
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(py), "-m", "pip", "install", "-q", "torch==2.13.0", "-c", "constraints.txt"],
             [str(py), "-m", "pip", "install", "-q", "-c", "constraints.txt", "-r", "requirements.txt"],
             [str(py), "-m", "pip", "install", "-q", "--no-deps", "."],
             [str(py), "-c", "from vcval.demo import ensure_demo_corpus; ensure_demo_corpus()"],
             [str(venv / "bin" / "vcval"), "export"]]
    had_build = (ROOT / "build").exists()
    for cmd in steps:
        logger.info("$ %s", " ".join(cmd))
        res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if not had_build:  # `pip install .` leaves setuptools' build/ in the source tree
            shutil.rmtree(ROOT / "build", ignore_errors=True)
        if res.returncode:
            return [f"{' '.join(cmd)} failed: {res.stderr[-2000:]}"]
    port = _free_port()
    app_dir = work / "app"  # the package is installed: start from a folder without the source tree
    app_dir.mkdir()
    (app_dir / "app.py").write_text((ROOT / "app.py").read_text(encoding="utf-8"), encoding="utf-8")
    ok = False
    log = open(work / "app.log", "w")
    proc = subprocess.Popen([str(py), "app.py"], cwd=app_dir, stdout=log, stderr=subprocess.STDOUT,
                            env={**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)})
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return [f"app.py exited with {proc.returncode}; log: {work / 'app.log'}"]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=5) as r:
                    info = json.loads(r.read())
                break
            except OSError:
                time.sleep(2)
        else:
            return [f"app.py did not serve within {timeout:.0f} s; log: {work / 'app.log'}"]
        endpoints = set(info.get("named_endpoints", {}))
        if endpoints != PUBLIC_ENDPOINTS:
            return [f"public mode serves {sorted(endpoints)}, want {sorted(PUBLIC_ENDPOINTS)}"]
        if not (work / "data" / "vcval-corpus" / "corpus.sqlite").is_file():
            return ["the persistent directory was not seeded with the demo corpus"]
        log.flush()
        if "runtime: onnx" not in (work / "app.log").read_text(encoding="utf-8", errors="replace"):
            return [f"app.py does not serve on the ONNX export (CPU host, export made); log: {work / 'app.log'}"]
        logger.info("app.py serves %s in public mode from %s", sorted(endpoints), work / "data" / "vcval-corpus")
        ok = True
        return []
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        if ok:  # keep the venv and the log only when something failed
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", action="store_true", help="also install into a clean venv and start the app")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for the app to serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    errors = check_readme() + check_dockerfile() + check_lfs() + check_dockerignore() + check_package_data()
    if not errors and args.start:
        errors += start_in_clean_venv(args.timeout)
    for e in errors:
        logger.error("FAIL %s", e)
    logger.info("space check: %s", "FAILED" if errors else "ok")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
