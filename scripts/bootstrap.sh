#!/usr/bin/env bash
# Create .venv and install vcval with pinned dependencies (idempotent; reruns only when
# requirements change). torch is pinned through constraints.txt on every install so that the
# local CPU wheel is used instead of the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${VCVAL_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.vcval-installed"
WANT="$(cat requirements.txt requirements-dev.txt requirements-scale.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet torch==2.13.0
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt -r requirements.txt -r requirements-dev.txt
  "$VENV/bin/python" -m pip install --quiet -c constraints.txt --no-deps -e .
  echo "$WANT" > "$STAMP"
fi
# espeak-ng: only the demo-corpus generator and the ASR test need it (the test skips without it).
if ! command -v espeak-ng >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq espeak-ng >/dev/null) || echo "note: espeak-ng not installed; the ASR test will be skipped" >&2
fi
