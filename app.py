"""Hugging Face Spaces entry point: the vcval Gradio app over the embedded demo corpus.

The UI lives in :mod:`vcval.app`; ``vcval serve --corpus DIR`` serves it over another corpus.
"""
from vcval.app import demo, main  # noqa: F401  (``demo`` for `gradio app.py`)

if __name__ == "__main__":
    main()
