"""Where a corpus's search indexes live: the embedded default or a Milvus server.

:class:`IndexBackend` is what retrieval needs from an index: window vectors, BM25 documents
(window- and video-level), add/remove by video, dense / BM25 / hybrid search, and the set
of videos it holds. Two implementations:

- :class:`~vcval.corpus.indexes.SearchIndexes` -- the embedded default: FAISS flat + bm25s
  in memory, saved as files under ``index/`` of the corpus directory (one machine).
- :class:`MilvusIndexes` -- Milvus 2.5+ (``pymilvus.MilvusClient``): one collection of cue
  windows (dense vector field + a BM25 function over the window's tokens) and one of videos
  (a BM25 function over title + transcript), hybrid search by Milvus' RRF ranker.
  ``milvus://HOST:PORT[/PREFIX]`` reaches a server (standalone or cluster);
  ``milvus-lite:///path/to/file.db`` runs milvus-lite in process (no server).

The catalog (SQLite), cues, media, features and the per-video window vectors
(``index/vectors/<id>.npy``) stay in the corpus directory with either backend. Writes go
catalog transaction -> index -> COMMIT; a video's row in the video collection is written
before its windows and deleted before them, so whatever a crash leaves is found from the
video rows alone. On open (and after
a rolled-back change) :meth:`vcval.corpus.Corpus` reconciles: catalog videos missing from
Milvus are indexed from the stored vectors + tokens, Milvus rows of videos no longer in the
catalog are deleted.

pymilvus (and milvus-lite) are optional: imported only when a Milvus index is asked for.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from vcval.errors import InvalidInputError, StorageError, VCVALError

logger = logging.getLogger(__name__)

INDEX_ENV = "VCVAL_INDEX"
"""Environment variable with the default ``--index`` URL (unset: the embedded default)."""

MAX_TEXT_BYTES = 65_000  # Milvus VARCHAR max_length is 65,535 bytes: longer transcripts are cut for BM25
RRF_K = 60


@runtime_checkable
class IndexBackend(Protocol):
    """The search indexes of one corpus (ids are the catalog's int64 window ids and video pks)."""

    def add_video(self, pk: int, doc_tokens: list[str], window_ids: Sequence[int],
                  window_tokens: Sequence[list[str]], video_id: str = "") -> None:
        """Add a video's BM25 document (title + transcript tokens) and its windows' tokens."""

    def ensure_dense(self, dim: int) -> None:
        """Prepare the dense index for vectors of size ``dim``."""

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add window vectors (n, D) float32 under window ids (n,) int64."""

    def remove_video(self, pk: int, window_ids: Sequence[int]) -> None:
        """Drop a video's document and its windows."""

    def search_dense(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Queries (Q, D) -> (scores (Q, k'), window ids (Q, k')), best first; ids -1 pad."""

    def search_bm25(self, query: str, k: int, granularity: str = "window") -> tuple[np.ndarray, np.ndarray]:
        """BM25 top-``k`` windows (or video pks for ``"video"``) -> (scores (k',), ids (k',))."""

    def search_hybrid(self, query: str, vector: np.ndarray, k: int,
                      candidates: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """RRF (k=60) of window BM25 and dense (each ``candidates`` deep) -> (scores (k',), window ids (k',))."""

    def save(self, folder: Path, generation: int, dim: int) -> None:
        """Make every change so far durable (files for the embedded index; a flush for a server)."""

    def video_pks(self) -> np.ndarray:
        """Pks (n,) int64 of the videos the index holds."""

    def stats(self) -> dict[str, Any]:
        """Number of entries per index."""


def rrf(lists: Sequence[tuple[np.ndarray, np.ndarray]], k: int, rrf_k: int = RRF_K) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion of (scores, ids) lists -> (fused scores (k',), ids (k',)), ties by id."""
    fused: dict[int, float] = {}
    for _, ids in lists:
        for rank, i in enumerate(np.asarray(ids).reshape(-1).tolist()):
            if i >= 0:
                fused[i] = fused.get(i, 0.0) + 1.0 / (rrf_k + rank + 1)
    top = sorted(fused.items(), key=lambda x: (-x[1], x[0]))[:k]
    return np.array([s for _, s in top], np.float32), np.array([i for i, _ in top], np.int64)


# --------------------------------------------------------------------------- --index URLs
@dataclass(frozen=True)
class IndexSpec:
    """A parsed ``--index`` value: ``kind`` "embedded" | "milvus" | "milvus-lite"."""

    kind: str
    uri: str = ""
    prefix: str = ""
    index_type: str = "FLAT"

    def __str__(self) -> str:
        return "embedded" if self.kind == "embedded" else f"{self.kind} {self.uri}"


DENSE_INDEX_TYPES = ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX")
_FORMS = ("'embedded' (the default), milvus://HOST:PORT[/PREFIX][?index=HNSW|IVF_FLAT|AUTOINDEX] for a Milvus server, or "
          "milvus-lite:///path/to/index.db for milvus-lite in this process")


def parse_index_url(text: str | None) -> IndexSpec:
    """Parse an ``--index`` value (None/"" = ``$VCVAL_INDEX`` or the embedded default); InvalidInputError if bad."""
    if text is None or not str(text).strip():
        text = os.environ.get(INDEX_ENV, "").strip() or "embedded"
    if not isinstance(text, str):
        raise InvalidInputError(f"--index must be a string, got {text!r}; give {_FORMS}")
    text = text.strip()
    index_type = "FLAT"
    if "?" in text:
        text, _, query = text.partition("?")
        key, _, value = query.partition("=")
        if key != "index" or value.upper() not in DENSE_INDEX_TYPES:
            raise InvalidInputError(f"--index ...?{query}: the only option is index=" + "|".join(DENSE_INDEX_TYPES))
        index_type = value.upper()
    if text == "embedded":
        return IndexSpec("embedded")
    m = re.fullmatch(r"milvus://([A-Za-z0-9.\-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})(?:/([A-Za-z_][A-Za-z0-9_]{0,40})?)?", text)
    if m:
        port = int(m.group(2))
        if not 0 < port < 65536:
            raise InvalidInputError(f"--index {text}: port {port} is out of range; give {_FORMS}")
        return IndexSpec("milvus", f"http://{m.group(1)}:{port}", m.group(3) or "", index_type)
    if text.startswith("milvus-lite://"):
        path = text[len("milvus-lite://"):]
        if not path.startswith("/") or not path.endswith(".db") or len(path) < 5:
            raise InvalidInputError(f"--index {text}: milvus-lite needs an absolute path ending in .db "
                                    "(milvus-lite:///data/vcval-index.db)")
        return IndexSpec("milvus-lite", path, "", index_type)
    raise InvalidInputError(f"--index {text!r} is not an index address; give {_FORMS}")


def collection_prefix(spec: IndexSpec, corpus_root: Path) -> str:
    """Collection name prefix: the URL's, else ``vcval_`` + a hash of the corpus directory's real path."""
    if spec.prefix:
        return spec.prefix
    digest = hashlib.sha256(str(Path(corpus_root).resolve()).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    return f"vcval_{digest}"


def connect_milvus(spec: IndexSpec) -> Any:
    """A ``pymilvus.MilvusClient`` for ``spec``; VCVALError naming what to install or start when it fails."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise VCVALError("the Milvus index backend needs pymilvus (and milvus-lite for milvus-lite://): "
                         "pip install -c constraints.txt pymilvus==3.0.2 milvus-lite==3.2.2") from exc
    if spec.kind == "milvus-lite":
        Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
        # milvus-lite serves pymilvus in process; it logs each call it does not implement (AllocTimestamp) as an
        # ERROR with a traceback although pymilvus falls back: keep those out of the user's log
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=spec.uri, timeout=10)
    except Exception as exc:  # pymilvus raises MilvusException / grpc errors with varying types
        where = f"the Milvus server at {spec.uri}" if spec.kind == "milvus" else f"milvus-lite file {spec.uri}"
        hint = ("start it (docker compose, see README 'Scaling out') or check HOST:PORT" if spec.kind == "milvus"
                else "check that the path is writable and that milvus-lite is installed")
        raise StorageError(f"cannot reach {where} ({type(exc).__name__}: {str(exc)[:200]}); {hint}") from exc


# --------------------------------------------------------------------------- Milvus
def _bm25_text(tokens: Sequence[str]) -> str:
    """Tokens joined by spaces, cut to what a VARCHAR field holds."""
    text = " ".join(tokens)
    raw = text.encode("utf-8")
    if len(raw) > MAX_TEXT_BYTES:
        text = raw[:MAX_TEXT_BYTES].decode("utf-8", "ignore").rsplit(" ", 1)[0]
    return text


def _score(distance: float, metric: str) -> float:
    """A similarity (higher is better) from a Milvus hit; milvus-lite reports BM25 as a negative distance."""
    return abs(float(distance)) if metric == "BM25" else float(distance)


class MilvusIndexes:
    """A corpus's search indexes in Milvus (see the module docstring). Changes are buffered until :meth:`save`.

    ``client``: a ``pymilvus.MilvusClient`` (or anything with its methods: tests pass a fake).
    ``prefix``: collections ``<prefix>_windows`` and ``<prefix>_videos``.
    ``index_type``: dense index of the window collection ("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX").
    """

    def __init__(self, client: Any, prefix: str, *, dim: int | None = None, index_type: str = "FLAT",
                 bm25_k1: float = 1.5, bm25_b: float = 0.75) -> None:
        self.client, self.prefix = client, prefix
        self.windows, self.videos = f"{prefix}_windows", f"{prefix}_videos"
        self.index_type, self.k1, self.b = index_type, float(bm25_k1), float(bm25_b)
        self.dim: int | None = None
        self._pending_videos: dict[int, dict[str, Any]] = {}
        self._pending_windows: dict[int, dict[str, Any]] = {}
        self._pending_vectors: dict[int, np.ndarray] = {}
        self._pending_removals: list[int] = []
        self._has_videos = bool(self._call(client.has_collection, self.videos))
        if self._call(client.has_collection, self.windows):
            self.dim = self._stored_dim()
        elif dim is not None:
            self.ensure_dense(dim)

    # ------------------------------------------------------------------ schema
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VCVALError:
            raise
        except Exception as exc:  # MilvusException, grpc.RpcError, ConnectionError ...
            raise StorageError(f"the Milvus index ({self.prefix}) failed: {type(exc).__name__}: {str(exc)[:300]}; "
                               "the change was rolled back; check that the server is up and retry") from exc

    def _stored_dim(self) -> int | None:
        desc = self._call(self.client.describe_collection, self.windows)
        for f in desc.get("fields", []):
            if f.get("name") == "vector":
                return int(f.get("params", {}).get("dim"))
        return None

    def _bm25_schema(self, schema: Any, text_field: str) -> None:
        from pymilvus import DataType, Function, FunctionType

        schema.add_field("text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name=f"{text_field}_bm25", function_type=FunctionType.BM25,
                                     input_field_names=["text"], output_field_names=["sparse"]))

    def ensure_dense(self, dim: int) -> None:
        """Create both collections (vector field of size ``dim``) unless they exist; InvalidInputError on a
        different stored size."""
        if self.dim is not None:
            if int(dim) != self.dim:
                raise InvalidInputError(f"Milvus collection {self.windows} holds {self.dim}-d vectors, not {dim}-d; "
                                        "use another --index prefix (milvus://HOST:PORT/PREFIX) for this corpus")
            return
        from pymilvus import DataType

        c = self.client
        bm25 = {"bm25_k1": self.k1, "bm25_b": self.b}
        schema = c.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("video_pk", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
        self._bm25_schema(schema, "window")
        params = c.prepare_index_params()
        dense: dict[str, Any] = {"M": 16, "efConstruction": 200} if self.index_type == "HNSW" else (
            {"nlist": 1024} if self.index_type.startswith("IVF") else {})
        params.add_index("vector", index_type=self.index_type, metric_type="IP", params=dense)
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=bm25)
        params.add_index("video_pk", index_type="INVERTED")
        self._call(c.create_collection, self.windows, schema=schema, index_params=params,
                   consistency_level="Strong")
        self.dim = int(dim)

    def _ensure_videos(self) -> None:
        """Create the video collection (BM25 over title + transcript) unless it exists."""
        if self._has_videos:
            return
        from pymilvus import DataType

        c = self.client
        bm25 = {"bm25_k1": self.k1, "bm25_b": self.b}
        schema = c.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("video_id", DataType.VARCHAR, max_length=256)
        self._bm25_schema(schema, "video")
        params = c.prepare_index_params()
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params=bm25)
        if not self._call(c.has_collection, self.videos):
            self._call(c.create_collection, self.videos, schema=schema, index_params=params,
                       consistency_level="Strong")
        self._has_videos = True

    # ------------------------------------------------------------------ writes (buffered)
    def add_video(self, pk: int, doc_tokens: list[str], window_ids: Sequence[int],
                  window_tokens: Sequence[list[str]], video_id: str = "") -> None:
        """Buffer a video's document and window texts (written by :meth:`save` with their vectors)."""
        self._pending_videos[int(pk)] = {"id": int(pk), "video_id": video_id, "text": _bm25_text(doc_tokens)}
        for i, t in zip(window_ids, window_tokens, strict=True):
            self._pending_windows[int(i)] = {"id": int(i), "video_pk": int(pk), "text": _bm25_text(t)}

    def add_vectors(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Buffer window vectors (n, D) float32 for window ids (n,)."""
        v = np.asarray(vectors, np.float32)
        if v.ndim != 2 or len(v) != len(ids):
            raise InvalidInputError(f"expected ({len(ids)}, D) vectors, got {v.shape}")
        if self.dim is None:
            self.ensure_dense(v.shape[1])
        for i, row in zip(np.asarray(ids).tolist(), v):
            self._pending_vectors[int(i)] = row

    def remove_video(self, pk: int, window_ids: Sequence[int]) -> None:
        """Buffer the removal of a video (and its windows)."""
        self._pending_videos.pop(int(pk), None)
        for i in window_ids:
            self._pending_windows.pop(int(i), None)
            self._pending_vectors.pop(int(i), None)
        self._pending_removals.append(int(pk))

    def discard(self) -> None:
        """Forget buffered changes (after a rolled-back transaction)."""
        self._pending_videos.clear()
        self._pending_windows.clear()
        self._pending_vectors.clear()
        self._pending_removals.clear()

    def delete_videos(self, pks: Sequence[int]) -> None:
        """Delete videos now: the video rows first (the completeness marker), then their windows."""
        pks = [int(p) for p in pks]
        for start in range(0, len(pks), 1000):
            chunk = pks[start:start + 1000]
            if self._has_videos:
                self._call(self.client.delete, self.videos, filter=f"id in {chunk}")
            if self.dim is not None:
                self._call(self.client.delete, self.windows, filter=f"video_pk in {chunk}")

    def save(self, folder: Path | None = None, generation: int = 0, dim: int = 0, batch: int = 2000) -> None:
        """Write the buffered changes: removals, then the video rows, then their windows.

        Called inside the catalog transaction, before its COMMIT: a video row in Milvus whose video is not in
        the catalog is a change that did not commit (removed with its windows by the reconcile); a catalog video
        whose row is missing is re-indexed. Rows are deleted before their windows for the same reason.
        """
        removals, videos = list(self._pending_removals), list(self._pending_videos.values())
        windows = []
        for i, row in self._pending_windows.items():
            vec = self._pending_vectors.get(i)
            if vec is None:
                raise VCVALError(f"window {i} has no vector; cannot index it in Milvus")
            windows.append({**row, "vector": vec.tolist()})
        if windows and self.dim is None:
            self.ensure_dense(len(windows[0]["vector"]))
        if videos:
            self._ensure_videos()
        self.delete_videos(removals)
        if videos and self.dim is not None:  # an id re-used after a crash: clear what an earlier owner left
            self._call(self.client.delete, self.windows, filter=f"video_pk in {[v['id'] for v in videos]}")
        for start in range(0, len(videos), batch):
            self._call(self.client.upsert, self.videos, videos[start:start + batch])
        for start in range(0, len(windows), batch):
            self._call(self.client.upsert, self.windows, windows[start:start + batch])
        self.discard()

    # ------------------------------------------------------------------ reads
    def video_pks(self) -> np.ndarray:
        """Pks (n,) int64 of the videos whose rows are complete in Milvus."""
        return np.array(sorted(self.video_ids()), np.int64)

    def video_ids(self) -> dict[int, str]:
        """{video pk: video id} of the complete videos in Milvus."""
        if not self._has_videos:
            return {}
        out: dict[int, str] = {}
        last = -(2 ** 63)
        while True:  # paged by primary key
            rows = self._call(self.client.query, self.videos, filter=f"id > {last}",
                              output_fields=["id", "video_id"], limit=10_000)
            if not rows:
                return out
            for r in rows:
                out[int(r["id"])] = str(r.get("video_id", ""))
            last = max(int(r["id"]) for r in rows)
            if len(rows) < 10_000:
                return out

    @staticmethod
    def _unpack(result: Any, metric: str) -> tuple[np.ndarray, np.ndarray]:
        hits = list(result[0]) if result else []
        return (np.array([_score(h["distance"], metric) for h in hits], np.float32),
                np.array([int(h["id"]) for h in hits], np.int64))

    def search_dense(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Queries (Q, D) -> (scores (Q, k'), window ids (Q, k')) by inner product; -1 pads short rows."""
        q = np.asarray(vectors, np.float32)
        if self.dim is None or k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        res = self._call(self.client.search, self.windows, data=[row.tolist() for row in q], anns_field="vector",
                         limit=int(k), search_params={"metric_type": "IP", "params": self._search_params()},
                         output_fields=[])
        rows = [self._unpack([r], "IP") for r in res]
        width = max((len(i) for _, i in rows), default=0)
        scores = np.full((len(q), width), -np.inf, np.float32)
        ids = np.full((len(q), width), -1, np.int64)
        for n, (s, i) in enumerate(rows):
            scores[n, :len(s)], ids[n, :len(i)] = s, i
        return scores, ids

    def _search_params(self) -> dict[str, Any]:
        return {"ef": 128} if self.index_type == "HNSW" else ({"nprobe": 32} if self.index_type.startswith("IVF")
                                                              else {})

    def _query_text(self, query: str | list[str]) -> str:
        from vcval.corpus.indexes import tokenize

        return " ".join(tokenize([query])[0] if isinstance(query, str) else query)

    def search_bm25(self, query: str | list[str], k: int, granularity: str = "window") -> tuple[np.ndarray, np.ndarray]:
        """BM25 top-``k`` windows (or video pks for ``granularity="video"``), positive scores only."""
        text = self._query_text(query)
        name = self.windows if granularity == "window" else self.videos
        if not text or k <= 0 or not (self.dim is not None if granularity == "window" else self._has_videos):
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        res = self._call(self.client.search, name, data=[text], anns_field="sparse", limit=int(k),
                         search_params={"metric_type": "BM25"}, output_fields=[])
        scores, ids = self._unpack(res, "BM25")
        keep = scores > 0
        return scores[keep], ids[keep]

    def search_hybrid(self, query: str, vector: np.ndarray, k: int,
                      candidates: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Milvus' RRF ranker (k=60) over window BM25 and dense, each ``candidates`` deep."""
        from pymilvus import AnnSearchRequest, RRFRanker

        text = self._query_text(query)
        if self.dim is None or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        vec = np.asarray(vector, np.float32).reshape(-1).tolist()
        reqs = [AnnSearchRequest(data=[vec], anns_field="vector", limit=int(candidates),
                                 param={"metric_type": "IP", "params": self._search_params()})]
        if text:
            reqs.append(AnnSearchRequest(data=[text], anns_field="sparse", limit=int(candidates),
                                         param={"metric_type": "BM25"}))
        res = self._call(self.client.hybrid_search, self.windows, reqs, RRFRanker(RRF_K), limit=int(k),
                         output_fields=[])
        return self._unpack(res, "RRF")

    def stats(self) -> dict[str, Any]:
        """Rows per collection (as Milvus reports them)."""
        w = 0 if self.dim is None else int(self._call(self.client.get_collection_stats, self.windows)["row_count"])
        v = int(self._call(self.client.get_collection_stats, self.videos)["row_count"]) if self._has_videos else 0
        return {"dense_vectors": w, "bm25_windows": w, "bm25_videos": v, "backend": "milvus"}

    def drop(self) -> None:
        """Drop both collections (every row of this corpus in Milvus)."""
        for name in (self.windows, self.videos):
            if self._call(self.client.has_collection, name):
                self._call(self.client.drop_collection, name)
        self.dim, self._has_videos = None, False
        self.discard()


def open_backend(spec: IndexSpec | str | None, corpus_root: Path, *, dim: int | None = None,
                 client: Any = None) -> MilvusIndexes | None:
    """The Milvus backend for ``spec`` (None for the embedded default). ``client``: an already made MilvusClient."""
    spec = spec if isinstance(spec, IndexSpec) else parse_index_url(spec)
    if spec.kind == "embedded":
        return None
    return MilvusIndexes(client if client is not None else connect_milvus(spec),
                         collection_prefix(spec, corpus_root), dim=dim, index_type=spec.index_type)
