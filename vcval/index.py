"""Indexes over cue WINDOWS: a dense FAISS index and a BM25 index.

A *window* is a run of consecutive cues (at most ``max_cues`` cues and ``max_seconds``
seconds); windows start every ``stride`` cues, so they overlap and every cue lies in at
least one window. A video with 0 cues has 0 windows: it is still listed in the corpus and
is found by the whole-transcript BM25 index (title + transcript, one document per video)
but never by the window indexes.

Dense: ``faiss.IndexIDMap2(IndexFlatIP)`` over L2-normalised sentence vectors (inner
product == cosine), keyed by int64 window ids, so adding or removing one video touches
only its own vectors (``add_with_ids`` / ``remove_ids``).

BM25: bm25s has no incremental add -- IDF is corpus-global, so adding one document changes
every score. We therefore keep every document's token list (in memory, in the saved index
file, and in the corpus database) and re-fit the sparse bm25s matrix from those tokens
whenever the document set changed (lazily, on the next search). Re-fitting is cheap
(sparse counting, no model, no re-reading or re-encoding of any video). Tokens are stored
unstemmed (lower-cased, English stopwords removed); when PyStemmer happens to be installed
the stemmer is applied at fit and query time, so stored tokens never go stale.

Index files are single ``.npz`` files written atomically (temp file + ``os.replace``) and
carry a ``generation`` number; the corpus compares it with its database's to detect (and
rebuild) indexes left behind by a crash.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from vcval.errors import InvalidInputError, VCVALError
from vcval.types import Cue

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- windows
@dataclass(frozen=True)
class WindowConfig:
    """How cues are grouped into overlapping windows (the unit of retrieval)."""

    max_cues: int = 4
    max_seconds: float = 30.0
    stride: int = 2

    def __post_init__(self) -> None:
        if self.max_cues < 1 or self.stride < 1 or self.max_seconds <= 0:
            raise InvalidInputError(
                f"invalid WindowConfig {self}: max_cues and stride must be >= 1 and max_seconds > 0"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WindowConfig":
        """Inverse of ``to_dict`` (unknown keys are ignored)."""
        return cls(**{k: d[k] for k in ("max_cues", "max_seconds", "stride") if k in d})


@dataclass(frozen=True)
class Window:
    """Cues ``first_cue..last_cue`` (inclusive list positions) spanning [start, end] seconds."""

    first_cue: int
    last_cue: int
    start: float
    end: float
    text: str


def make_windows(cues: Sequence[Cue], cfg: WindowConfig = WindowConfig()) -> list[Window]:
    """Group ``cues`` (sorted by time) into overlapping windows.

    A window starting at cue i grows while it has at most ``cfg.max_cues`` cues and spans at
    most ``cfg.max_seconds`` (a single long cue is still a window). The next window starts
    ``cfg.stride`` cues later, but never after the cue following the current window's end,
    so no cue is skipped. Stops once a window reaches the last cue. 0 cues -> 0 windows.
    """
    out: list[Window] = []
    n = len(cues)
    i = 0
    while i < n:
        j = i
        while (
            j + 1 < n
            and (j + 1 - i + 1) <= cfg.max_cues
            and cues[j + 1].end - cues[i].start <= cfg.max_seconds
        ):
            j += 1
        text = " ".join(c.text.strip() for c in cues[i : j + 1] if c.text.strip())
        out.append(Window(i, j, float(cues[i].start), float(max(c.end for c in cues[i : j + 1])), text))
        if j == n - 1:
            break
        i = min(i + cfg.stride, j + 1)
    return out


# --------------------------------------------------------------------------- file helpers
def _atomic_savez(path: Path, **arrays: Any) -> None:
    """``np.savez`` into a temp file next to ``path`` then ``os.replace`` (all or nothing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_generation(path: str | os.PathLike) -> int | None:
    """The generation stored in an index file, or None if it is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return int(z["generation"])
    except (OSError, KeyError, ValueError, EOFError) as exc:
        logger.debug("cannot read generation of %s: %s", path, exc)
        return None
    except Exception as exc:  # zipfile.BadZipFile and friends on a truncated file
        logger.debug("cannot read generation of %s: %s", path, exc)
        return None


# --------------------------------------------------------------------------- dense
class DenseIndex:
    """Exact inner-product search over L2-normalised vectors with int64 ids (FAISS)."""

    def __init__(self, dim: int) -> None:
        import faiss

        if dim < 1:
            raise InvalidInputError(f"vector dimension must be >= 1, got {dim}")
        self.dim = int(dim)
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))

    @property
    def ntotal(self) -> int:
        """Number of stored vectors."""
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    def _check(self, vectors: np.ndarray) -> np.ndarray:
        v = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise InvalidInputError(f"expected vectors of shape (N, {self.dim}), got {v.shape}")
        return v

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (N, D) float32 under int64 ``ids`` (N,)."""
        v = self._check(vectors)
        i = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(i) != len(v):
            raise InvalidInputError(f"{len(i)} ids for {len(v)} vectors")
        if len(i):
            self._index.add_with_ids(v, i)

    def remove(self, ids: Sequence[int] | np.ndarray) -> int:
        """Remove the vectors with these ids; returns how many were removed."""
        import faiss

        i = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if not len(i):
            return 0
        return int(self._index.remove_ids(faiss.IDSelectorBatch(i)))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product: queries (Q, D) -> (scores (Q, k') float32, ids (Q, k') int64).

        k' = min(k, ntotal); with an empty index both arrays have shape (Q, 0).
        """
        q = self._check(vectors)
        kk = min(int(k), self.ntotal)
        if kk <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        scores, ids = self._index.search(q, kk)
        return scores.astype(np.float32, copy=False), ids.astype(np.int64, copy=False)

    def save(self, path: str | os.PathLike, generation: int = 0) -> None:
        """Write the index atomically to ``path`` (an .npz) tagged with ``generation``."""
        import faiss

        blob = faiss.serialize_index(self._index)  # uint8 array
        _atomic_savez(Path(path), faiss=blob, dim=np.int64(self.dim), generation=np.int64(generation))

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple["DenseIndex", int]:
        """Read an index written by ``save``; returns (index, generation)."""
        import faiss

        try:
            with np.load(path, allow_pickle=False) as z:
                blob, dim, gen = z["faiss"], int(z["dim"]), int(z["generation"])
        except Exception as exc:
            raise VCVALError(f"dense index file {path} is unreadable ({exc}); it will be rebuilt") from exc
        obj = cls.__new__(cls)
        obj.dim = dim
        obj._index = faiss.deserialize_index(blob)
        return obj, gen


# --------------------------------------------------------------------------- BM25
def _default_stemmer() -> Any:
    """PyStemmer's English stemmer when it is installed, else None (it is not a dependency)."""
    try:
        import Stemmer  # type: ignore[import-not-found]
    except ImportError:
        return None
    return Stemmer.Stemmer("english")


def import_bm25s() -> Any:
    """Import bm25s, whose logger is set to DEBUG at import: quiet it to WARNING."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


_EXTRA_STOPWORDS = (
    "how what why when where which who whom whose do does did done can could should would shall may might must "
    "have has had been being were am i me my mine you your yours we us our he him his she her hers its them "
    "so than too very just also here um uh"
).split()


@functools.lru_cache(maxsize=1)
def stopwords() -> tuple[str, ...]:
    """bm25s' English (Lucene) stopwords + question words, auxiliaries, pronouns and fillers."""
    from bm25s.stopwords import STOPWORDS_EN

    return tuple(sorted(set(STOPWORDS_EN) | set(_EXTRA_STOPWORDS)))


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """bm25s tokenisation (lower-case, ``\\w\\w+`` tokens, :func:`stopwords` removed), unstemmed."""
    bm25s = import_bm25s()

    if not texts:
        return []
    texts = [t.replace("_", " ") for t in texts]  # "first_aid_sling" -> three words (\w matches "_")
    out = bm25s.tokenize(texts, stopwords=list(stopwords()), return_ids=False, show_progress=False)
    return [list(t) for t in out]


class BM25Index:
    """BM25 over token lists keyed by int64 ids; re-fit lazily after any change."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stemmer: Any = "auto") -> None:
        self.k1, self.b = float(k1), float(b)
        self._stemmer = _default_stemmer() if stemmer == "auto" else stemmer
        self._docs: dict[int, list[str]] = {}
        self._model: Any = None
        self._row_ids = np.zeros(0, np.int64)
        self._dirty = True

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: int) -> bool:
        return int(doc_id) in self._docs

    def _stem(self, tokens: list[str]) -> list[str]:
        return list(self._stemmer.stemWords(tokens)) if (self._stemmer is not None and tokens) else tokens

    def add(self, ids: Iterable[int], tokens: Iterable[list[str]]) -> None:
        """Add (or replace) documents given as unstemmed token lists."""
        for i, t in zip(ids, tokens, strict=True):
            self._docs[int(i)] = list(t)
        self._dirty = True

    def remove(self, ids: Iterable[int]) -> int:
        """Drop documents; returns how many existed."""
        n = 0
        for i in ids:
            if self._docs.pop(int(i), None) is not None:
                n += 1
        if n:
            self._dirty = True
        return n

    def ids(self) -> np.ndarray:
        """All document ids (N,) int64."""
        return np.fromiter(self._docs.keys(), dtype=np.int64, count=len(self._docs))

    def tokens(self, doc_id: int) -> list[str]:
        """The stored (unstemmed) tokens of one document."""
        return list(self._docs[int(doc_id)])

    def fit(self) -> None:
        """(Re)build the sparse BM25 matrix from the stored tokens."""
        bm25s = import_bm25s()

        self._row_ids = self.ids()
        docs = [self._stem(t) for t in self._docs.values()]
        if not any(docs):
            self._model = None
        else:
            model = bm25s.BM25(k1=self.k1, b=self.b)
            model.index(docs, show_progress=False)
            self._model = model
        self._dirty = False

    def search(self, query: str | list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` documents with a positive score -> (scores (k',) float32, ids (k',) int64)."""
        if self._dirty:
            self.fit()
        q = tokenize([query])[0] if isinstance(query, str) else list(query)
        q = [t for t in self._stem(q) if self._model is not None and t in self._model.vocab_dict and t]
        if not q or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        scores = np.asarray(self._model.get_scores(q), dtype=np.float32)  # (N,)
        kk = min(int(k), len(scores))
        top = np.argpartition(-scores, kk - 1)[:kk]
        top = top[np.lexsort((self._row_ids[top], -scores[top]))]  # score desc, then id asc
        top = top[scores[top] > 0]
        return scores[top], self._row_ids[top]

    def save(self, path: str | os.PathLike, generation: int = 0) -> None:
        """Write the documents (ids + tokens) atomically, tagged with ``generation``."""
        ids = self.ids()
        joined = np.array([" ".join(t) for t in self._docs.values()], dtype=np.str_)
        meta = json.dumps({"k1": self.k1, "b": self.b})
        _atomic_savez(Path(path), ids=ids, tokens=joined, meta=np.array(meta), generation=np.int64(generation))

    @classmethod
    def load(cls, path: str | os.PathLike, *, stemmer: Any = "auto") -> tuple["BM25Index", int]:
        """Read a file written by ``save`` (the BM25 matrix is re-fit on first search)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                ids, toks = z["ids"], z["tokens"]
                meta, gen = json.loads(str(z["meta"])), int(z["generation"])
        except Exception as exc:
            raise VCVALError(f"BM25 index file {path} is unreadable ({exc}); it will be rebuilt") from exc
        obj = cls(k1=meta.get("k1", 1.5), b=meta.get("b", 0.75), stemmer=stemmer)
        obj.add(ids.tolist(), [str(t).split() for t in toks])
        return obj, gen
