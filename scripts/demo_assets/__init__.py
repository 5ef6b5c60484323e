"""The demo corpus generator behind ``scripts/make_demo_corpus.py``.

- :mod:`.content`: the video scripts (narration, step headings, diagrams), questions, catalog metadata.
- :mod:`.drawing`: the Pillow ``Pen``, figures and the slide layout.
- :mod:`.render`: espeak-ng narration, cue timing, ffmpeg muxing, and the output files.
"""
