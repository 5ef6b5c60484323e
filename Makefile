# The two set-up-free commands: `make demo` and `make test` (each installs what it needs first).
.PHONY: setup demo test test-slow
export GRADIO_ANALYTICS_ENABLED := False
export HF_HUB_DISABLE_TELEMETRY := 1

setup:
	@bash scripts/bootstrap.sh

demo: setup
	HF_HUB_OFFLINE=1 .venv/bin/python app.py

test: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q

test-slow: setup
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q -m slow
