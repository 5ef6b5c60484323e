"""Video ids and content hashes: validation, ASCII slugs and stable default ids."""
from __future__ import annotations

import hashlib
import os
import re
import unicodedata

from vcval.errors import InvalidInputError

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
"""A valid video id: 1-128 letters, digits, '-' or '_' (safe as a file name)."""


def validate_video_id(video_id: str) -> str:
    """Return ``video_id`` if it is 1-128 chars of ``[A-Za-z0-9_-]``, else InvalidInputError."""
    if not isinstance(video_id, str) or not ID_RE.match(video_id):
        raise InvalidInputError(
            f"invalid video id {video_id!r}: use 1-128 letters, digits, '-' or '_' "
            "(no path separators, dots or spaces)"
        )
    return video_id


def slugify(text: str, max_len: int = 48) -> str:
    """ASCII slug of ``text`` (lower-case, ``[a-z0-9_-]``); ``"video"`` if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", ascii_text).strip("-_").lower()
    slug = re.sub(r"-{2,}", "-", slug)[:max_len].strip("-_")
    return slug or "video"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def default_video_id(stem: str, content_hash: str) -> str:
    """Readable, stable id: slug of the file stem + '-' + first 8 hex of the content sha256."""
    return f"{slugify(stem)}-{content_hash[:8]}"
