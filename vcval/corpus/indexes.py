"""A corpus's search indexes over cue windows: dense FAISS, BM25, and the set kept per generation.

A *window* is a run of consecutive cues (at most ``max_cues`` cues and ``max_seconds``
seconds); windows start every ``stride`` cues, so they overlap and every cue lies in at
least one window. A video with 0 cues has 0 windows: it is still listed in the corpus and
is found by the whole-transcript BM25 index (title + transcript, one document per video)
but never by the window indexes.

Dense: ``faiss.IndexIDMap2(IndexFlatIP)`` over L2-normalised sentence vectors (inner
product == cosine), keyed by int64 window ids, so adding or removing one video touches
only its own vectors (``add_with_ids`` / ``remove_ids``). Exact search reads every vector per
question (its time grows linearly with the windows), so when a saved index reaches
``IVF_MIN_VECTORS`` it becomes an inverted-file index (``IndexIVFFlat``: k-means cells trained once on
the vectors it holds then, ``nprobe`` cells read per question; later videos are added to the trained
cells). ``benchmarks/bench_scale.py`` measures the crossover and the recall.

BM25: bm25s has no incremental add -- IDF is corpus-global, so adding one document changes
every score. We therefore keep every document's token list (in memory, in the saved index
file, and in the corpus database) and re-fit the sparse bm25s matrix from those tokens
whenever the document set changed (lazily, on the next search). Re-fitting is cheap
(sparse counting, no model, no re-reading or re-encoding of any video). Tokens are stored
unstemmed (lower-cased, English stopwords removed); a stemmer, when ``$VCVAL_BM25_STEMMER`` asks for one
(opt-in, PyStemmer), is applied at fit and query time, so stored tokens never go stale.

Index files are single ``.npz`` files written atomically (temp file + ``os.replace``) and
carry a ``generation`` number; the corpus compares it with its database's to detect (and
rebuild) indexes left behind by a crash.

:class:`SearchIndexes` holds a corpus's three indexes (``dense``, ``bm25_windows``,
``bm25_videos``), in memory and in ``index/``; window vectors are also kept per video in
``index/vectors/<id>.npy``, so the indexes can be rebuilt without encoding.
"""
from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vcval.errors import InvalidInputError, VCVALError
from vcval.utils import atomic_savez

logger = logging.getLogger(__name__)


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
IVF_MIN_VECTORS = 50_000
"""A saved flat index of at least this many vectors becomes an IVF index (see the module doc). README
"Scaling out": exact search grows linearly (15-56 ms at 24k windows, 127-850 ms at 219k on 2 shared cores,
depending on load); IVF with nprobe 16 answered 219k windows in about 1 ms at recall@10 0.99-1.00 and 2.3M
in 4.5 ms at 0.994 (benchmarks/scale.md)."""
IVF_NPROBE = 16
IVF_KMEANS_ITERATIONS = 10  # k-means passes when the cells are trained (recall@10 0.99 at 219k and 2.3M windows)


def ivf_cells(n: int) -> int:
    """k-means cells of the IVF index over ``n`` vectors: min(4096, 4 sqrt(n)), and at least 39
    training vectors per cell (FAISS's minimum)."""
    return int(max(1, min(4096, 4 * np.sqrt(n), n // 39)))


class DenseIndex:
    """Inner-product search over L2-normalised vectors with int64 ids (FAISS): exact (``kind`` "flat")
    until :meth:`upgrade_if_large` makes it an inverted-file index (``kind`` "ivf")."""

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

    @property
    def kind(self) -> str:
        """"flat" (exact) or "ivf" (inverted file, approximate)."""
        import faiss

        return "ivf" if isinstance(faiss.downcast_index(self._index), faiss.IndexIVF) else "flat"

    def upgrade_if_large(self, min_vectors: int | None = None) -> bool:
        """Turn a flat index of at least ``min_vectors`` (default ``IVF_MIN_VECTORS``) vectors into an
        ``IndexIVFFlat`` of min(4096, 4 sqrt(n)) cells trained on them; True when it did."""
        import faiss

        limit = IVF_MIN_VECTORS if min_vectors is None else int(min_vectors)
        n = self.ntotal
        if self.kind != "flat" or n < max(limit, 1):
            return False
        vectors = faiss.downcast_index(self._index.index).reconstruct_n(0, n)  # (n, D) in insertion order
        ids = faiss.vector_to_array(self._index.id_map).astype(np.int64)  # (n,)
        nlist = ivf_cells(n)
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = IVF_KMEANS_ITERATIONS  # FAISS samples at most 256 vectors per cell for the k-means
        ivf.train(vectors)
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = min(IVF_NPROBE, nlist)
        self._index = ivf  # FAISS's Python wrapper keeps the quantizer alive with the index
        logger.info("dense index of %d vectors is now IVF (%d cells, nprobe %d)", n, nlist, ivf.nprobe)
        return True

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
        atomic_savez(Path(path), faiss=blob, dim=np.int64(self.dim), generation=np.int64(generation))

    @classmethod
    def load(cls, path: str | os.PathLike) -> tuple[DenseIndex, int]:
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
        if obj.kind == "ivf":
            ivf = faiss.extract_index_ivf(obj._index)
            ivf.nprobe = min(IVF_NPROBE, int(ivf.nlist))
        return obj, gen


# --------------------------------------------------------------------------- BM25
STEMMER_ENV = "VCVAL_BM25_STEMMER"
"""Environment variable naming a Snowball stemmer language for BM25 (e.g. ``english``; needs PyStemmer). Unset: no
stemming, whatever is installed (measured in benchmarks/retrieval.md: better on TutorialVQA dev, not on the held-out
sets, so off by default)."""


def _default_stemmer() -> Any:
    """The stemmer ``$VCVAL_BM25_STEMMER`` names (PyStemmer), or None when it is unset (the default)."""
    language = os.environ.get(STEMMER_ENV, "").strip().lower()
    if not language:
        return None
    try:
        import Stemmer  # type: ignore[import-not-found]
    except ImportError as exc:
        raise VCVALError(f"{STEMMER_ENV}={language} needs PyStemmer: pip install PyStemmer==3.1.0 "
                         f"(or unset {STEMMER_ENV} for unstemmed BM25)") from exc
    try:
        return Stemmer.Stemmer(language)
    except KeyError as exc:
        raise VCVALError(f"{STEMMER_ENV}={language!r} is not a stemmer language; use one of "
                         f"{', '.join(Stemmer.algorithms())}") from exc


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
        atomic_savez(Path(path), ids=ids, tokens=joined, meta=np.array(meta), generation=np.int64(generation))

    @classmethod
    def load(cls, path: str | os.PathLike, *, stemmer: Any = "auto") -> tuple[BM25Index, int]:
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


# --------------------------------------------------------------------------- the set of indexes
INDEX_FILES = {"dense": "dense.npz", "bm25_windows": "bm25_windows.npz", "bm25_videos": "bm25_videos.npz"}


def load_vectors(path: Path, n: int, dim: int | None) -> np.ndarray | None:
    """(n, dim) float32 window vectors from ``path``; None when missing, unreadable or misshapen."""
    try:
        v = np.load(path)
    except (OSError, ValueError, EOFError):
        return None
    if v.ndim != 2 or v.shape[0] != n or (dim is not None and v.shape[1] != dim):
        return None
    return v.astype(np.float32, copy=False)


class SearchIndexes:
    """The dense and BM25 indexes of one corpus generation."""

    def __init__(self, dense: DenseIndex | None = None, bm25_windows: BM25Index | None = None,
                 bm25_videos: BM25Index | None = None) -> None:
        self.dense = dense
        self.bm25_windows = bm25_windows if bm25_windows is not None else BM25Index()
        self.bm25_videos = bm25_videos if bm25_videos is not None else BM25Index()

    @staticmethod
    def paths(folder: Path) -> dict[str, Path]:
        """The index files in ``folder``, by index name."""
        return {name: folder / file for name, file in INDEX_FILES.items()}

    @classmethod
    def load(cls, folder: Path, generation: int, *, keep_empty_dense: bool) -> SearchIndexes:
        """The indexes saved at ``generation``; VCVALError when a file is stale or unreadable.

        An empty dense index is dropped (None) unless ``keep_empty_dense`` (the encoder is known).
        """
        paths = cls.paths(folder)
        if any(read_generation(p) != generation for p in paths.values()):
            raise VCVALError(f"index generation differs from the database's ({generation})")
        dense, _ = DenseIndex.load(paths["dense"])
        bm25w, _ = BM25Index.load(paths["bm25_windows"])
        bm25v, _ = BM25Index.load(paths["bm25_videos"])
        return cls(dense if dense.ntotal or keep_empty_dense else None, bm25w, bm25v)

    def save(self, folder: Path, generation: int, dim: int) -> None:
        """Write all index files under temp names, then rename them all (originals untouched on failure).

        ``dim``: vector size of the empty dense index saved while there is none.
        """
        paths = self.paths(folder)
        pending = {k: p.with_name(p.name + ".pending") for k, p in paths.items()}
        try:
            dense = self.dense if self.dense is not None else DenseIndex(dim)
            dense.upgrade_if_large()
            dense.save(pending["dense"], generation)
            self.bm25_windows.save(pending["bm25_windows"], generation)
            self.bm25_videos.save(pending["bm25_videos"], generation)
        except BaseException:
            for p in pending.values():
                p.unlink(missing_ok=True)
            raise
        for k in paths:
            os.replace(pending[k], paths[k])

    def ensure_dense(self, dim: int) -> None:
        """Start an empty dense index of ``dim`` unless one of that size exists."""
        if self.dense is None or self.dense.dim != dim:
            self.dense = DenseIndex(dim)

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add (n,) int64 window ids with their (n, D) vectors to the dense index."""
        if self.dense is None:
            self.dense = DenseIndex(vectors.shape[1])
        self.dense.add(ids, vectors)

    def add_video(self, pk: int, doc_tokens: list[str], window_ids: Sequence[int],
                  window_tokens: Sequence[list[str]], video_id: str = "") -> None:
        """Add a video's BM25 document (title + transcript tokens) and its windows' tokens."""
        self.bm25_videos.add([pk], [doc_tokens])
        self.bm25_windows.add(window_ids, window_tokens)

    def search_dense(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Queries (Q, D) -> (scores (Q, k'), window ids (Q, k')); (Q, 0) without a dense index."""
        if self.dense is None:
            n = len(vectors)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        return self.dense.search(vectors, k)

    def search_bm25(self, query: str, k: int, granularity: str = "window") -> tuple[np.ndarray, np.ndarray]:
        """BM25 top-``k`` windows (or video pks for ``"video"``) -> (scores (k',), ids (k',))."""
        index = self.bm25_windows if granularity == "window" else self.bm25_videos
        return index.search(query, k)

    def search_hybrid(self, query: str, vector: np.ndarray, k: int,
                      candidates: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """RRF (k=60) of window BM25 and dense, each ``candidates`` deep -> (scores (k',), window ids (k',))."""
        from vcval.corpus.backends import rrf

        dense = self.search_dense(np.asarray(vector, np.float32).reshape(1, -1), candidates)
        return rrf([self.search_bm25(query, candidates), (dense[0][0], dense[1][0])], k)

    def video_pks(self) -> np.ndarray:
        """Pks (n,) int64 of the videos in the index."""
        return np.sort(self.bm25_videos.ids())

    def remove_video(self, pk: int, window_ids: Sequence[int]) -> None:
        """Drop a video's document and its windows from every index."""
        if self.dense is not None:
            self.dense.remove(window_ids)
        self.bm25_windows.remove(window_ids)
        self.bm25_videos.remove([pk])

    def stats(self) -> dict[str, Any]:
        """Number of entries per index and the dense index's kind."""
        return {"dense_vectors": 0 if self.dense is None else self.dense.ntotal,
                "dense_kind": "none" if self.dense is None else self.dense.kind,
                "bm25_windows": len(self.bm25_windows), "bm25_videos": len(self.bm25_videos)}


# --------------------------------------------------------------------------- dense indexes of other encoders
ENCODER_INDEX_DIR = "encoders"
"""``index/encoders/<key>/``: the window vectors of an encoder other than the corpus's own (e.g. RepBERT)."""


def encoder_index_key(name: str) -> str:
    """Folder name of an encoder's window index: a hash of the encoder's name (a path or Hub id)."""
    import hashlib

    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:16]


class EncoderVectors:
    """Per-video window vectors of one extra encoder, in ``folder`` (``index/encoders/<key>/``).

    ``encoder.json`` records which encoder built them (name, fingerprint of its weights, dim); a
    different fingerprint empties the folder, so a retrained encoder never meets stale vectors.
    ``vectors/<video_id>.npz`` holds ``ids`` (n,) int64 window ids and ``vectors`` (n, D) float32:
    they are reused while the video's window ids are unchanged. The corpus's own dense index
    (``index/dense.npz``, ``index/vectors/``) is never touched.
    """

    def __init__(self, folder: Path, *, name: str, fingerprint: str, dim: int, writable: bool) -> None:
        self.folder, self.writable = Path(folder), writable
        self.meta = {"name": name, "fingerprint": fingerprint, "dim": int(dim)}
        self.stale = False
        meta_path = self.folder / "encoder.json"
        try:
            stored = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = None
        if stored is not None and stored != self.meta:
            logger.info("window index of encoder %s was built by %s; rebuilding it", name, stored.get("fingerprint"))
            self.stale = True
            if writable:
                import shutil

                shutil.rmtree(self.folder / "vectors", ignore_errors=True)
        if writable and stored != self.meta:
            self.folder.mkdir(parents=True, exist_ok=True)
            from vcval.utils import atomic_write

            atomic_write(meta_path, lambda fh: fh.write(json.dumps(self.meta, indent=1).encode("utf-8")))

    def _path(self, video_id: str) -> Path:
        return self.folder / "vectors" / f"{video_id}.npz"

    def load(self, video_id: str, ids: np.ndarray) -> np.ndarray | None:
        """The stored (n, D) vectors of a video whose window ids are ``ids`` (n,); None when absent or stale."""
        if self.stale:
            return None
        try:
            with np.load(self._path(video_id), allow_pickle=False) as z:
                stored_ids, vectors = z["ids"], z["vectors"]
        except Exception:  # missing, truncated, damaged: re-encode
            return None
        if stored_ids.shape != ids.shape or not np.array_equal(stored_ids, ids) or vectors.shape != (
                len(ids), self.meta["dim"]):
            return None
        return vectors.astype(np.float32, copy=False)

    def save(self, video_id: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Store a video's window ids (n,) and vectors (n, D) (no-op on a read-only corpus)."""
        if self.writable:
            atomic_savez(self._path(video_id), ids=ids.astype(np.int64), vectors=vectors.astype(np.float32))

    def prune(self, keep: set[str]) -> None:
        """Delete the vector files of videos not in ``keep`` (removed from the corpus)."""
        folder = self.folder / "vectors"
        if self.writable and folder.is_dir():
            for f in folder.iterdir():
                if f.suffix != ".npz" or f.stem not in keep:
                    f.unlink(missing_ok=True)
