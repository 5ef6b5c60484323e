"""Hugging Face Spaces entry point: the vcval Gradio app over the embedded demo corpus.

The UI lives in :mod:`vcval.app`; ``vcval serve --corpus DIR`` serves it over another corpus.
"""
import logging

# before the import below builds the app, so that its start-up (corpus, runtime, models) is logged
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
for noisy in ("faiss.loader", "httpx"):  # which CPU build faiss loads, every HTTP request gradio makes
    logging.getLogger(noisy).setLevel(logging.WARNING)

from vcval.app import demo, main  # noqa: E402,F401  (``demo`` for `gradio app.py`)

if __name__ == "__main__":
    main()
