"""Typed exceptions. Every message says what went wrong and what the user can do."""
from __future__ import annotations


class VCVALError(Exception):
    """Base class for every error vcval raises on purpose (safe to show to a user)."""


class InvalidMediaError(VCVALError):
    """The file is not a readable video (not a video, truncated, corrupt, zero-length)."""


class SubtitleError(VCVALError):
    """A subtitle/transcript file is malformed, empty or undecodable."""


class DuplicateVideoError(VCVALError):
    """The same content (by hash) is already in the corpus."""

    def __init__(self, message: str, video_id: str) -> None:
        super().__init__(message)
        self.video_id = video_id


class InvalidInputError(VCVALError):
    """A question, id, URL or path argument is not acceptable."""


class EmptyCorpusError(VCVALError):
    """The corpus holds no videos, so there is nothing to answer from."""


class NetworkError(VCVALError):
    """A download failed because the network (or the remote site) could not be reached."""


class NotFoundError(VCVALError):
    """A video id, checkpoint or file does not exist."""


class CorpusBusyError(VCVALError):
    """Another process held the corpus's write lock for longer than the lock timeout."""


class StorageError(VCVALError):
    """The disk is full or not writable; the change was rolled back and the corpus is unchanged."""
