"""Localization: given a question and retrieved candidate videos, pick and rank answer spans.

``base`` (Candidate, the Localizer protocol), ``prior`` (answer length/position prior), ``spans``
(span masks, the one decoder of non-overlapping spans, the one temporal IoU), ``baseline`` (the
training-free localizer), ``ccgs`` (the CCGS localizer and its inference settings).
"""
