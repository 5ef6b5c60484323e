# The two set-up-free commands: `make demo` and `make test` (each installs what it needs first).
.PHONY: setup demo test lint test-browser test-export
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

setup:
	@bash scripts/bootstrap.sh

# the default model's ONNX export first (about a minute the first time, then a no-op): the app then serves
# on onnxruntime without loading torch; if the export fails it serves on torch
demo: setup
	@HF_HUB_OFFLINE=1 .venv/bin/vcval export >/dev/null || echo "note: vcval export failed; the demo serves on torch" >&2
	HF_HUB_OFFLINE=1 .venv/bin/python app.py

test: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check vcval tests scripts benchmarks app.py
	.venv/bin/mypy

# headless Chromium + chromedriver (apt) and selenium; screenshots in artifacts/screenshots/
test-browser: setup
	@bash scripts/install_browser.sh
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -m browser

# the ONNX runtime against torch: real exports (about 2 minutes on 2 cores), marked slow
test-export: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -m slow tests/test_runtime.py
