"""How far one machine goes: synthetic transcript-only corpora of 1k / 10k / 100k videos, per index backend.

    python benchmarks/bench_scale.py --sizes 1k            # ~5 min on 2 shared cores
    python benchmarks/bench_scale.py --sizes 1k,10k,100k --ray   # the full table in benchmarks/scale.md
    python benchmarks/bench_scale.py --sizes 100k --catalog        # the 100k corpus through the ingest path

Corpora (reproducible, seed 0; written under ``runs/scale/``, outside git): the 105 real transcripts
of TutorialVQA (76) and MedVidQA (29) are planted as themselves (so the real questions below have
their answer video in the corpus); every other video is synthetic: one or two contiguous runs of cues
cut from random real transcripts (random start and length, timings shifted), so texts and lengths are
real but mixed. Questions: 20 real questions (TutorialVQA dev + MedVidQA, seeded sample) whose video
is among the planted ones.

Vectors. 1k and 10k rows go through the real ingest path (``Corpus.add_transcripts``: catalog, BM25,
FAISS; commits of 1,000 videos) with the real MiniLM encoder behind a cache keyed by text
(``runs/scale/real-vectors.npz``): identical text gives the identical vector, so each distinct window
text is encoded once (synthetic videos repeat real texts). Every vector at 1k and 10k is real (the 10k run
reuses the 1k run's and encodes the few thousand texts it adds). At 100k the texts the cache lacks get
*derived* vectors: the real vector of a cached text that starts the same way (a window cut from the same
cues) or shares the most words with it, plus Gaussian noise (sigma 0.05 per dimension, re-normalised); the
table gives the counts and projects the ingest rate had every window been encoded at the measured
throughput. Sentence-unit encodings (learned localizer) are left to first use at every size, so ingest is
measured without them, and ask p50 is timed warm: each question is asked once before the timed pass, which
encodes the retrieved videos' sentences (with derived vectors at 100k: a latency figure there, not a quality
one). By default the 100k row does not build a corpus: it measures the index layer alone (FAISS, bm25s) on
window vectors derived the same way from the planted videos' real ones, and says so in the table;
``--catalog`` builds the 100k corpus through the ingest path instead (ten commits of 10k videos).

Per size and backend: ingest throughput, index build time, disk, peak RSS, retrieval p50/p95 (bm25,
dense, hybrid; top-10 windows through the Corpus), ask p50 (default pipeline) where a corpus exists,
how often the planted video is in the top-10 videos, the Milvus backend's top-10 video overlap with the
embedded one, and FAISS index choices (flat, HNSW, IVF) with build time, p50/p95 and recall@10 against
exact search (ties counted: a hit scoring at least the exact 10th score counts), as ratios to flat.
Each (size, backend) runs in its own process so RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchlib import (  # noqa: E402
    MEDVIDQA,
    ROOT,
    TUTORIALVQA,
    copy_catalog,
    markdown_table,
    percentile,
    remove,
)

from vcval.utils import setup_script_logging  # noqa: E402

logger = logging.getLogger("bench")
WORK = ROOT / "runs" / "scale"
SIZES = {"1k": 1_000, "10k": 10_000, "100k": 100_000}
SEED = 0
N_QUESTIONS = 20
NOISE = 0.05


# --------------------------------------------------------------------------- corpus generation
def sources() -> dict[str, list[dict]]:
    """The real transcripts: {video id: [{"start", "duration", "text"}]}, sorted by id."""
    out = {}
    for folder in (TUTORIALVQA / "transcripts", MEDVIDQA / "transcripts"):
        for f in sorted(folder.glob("*.json")):
            out[f.stem] = json.loads(f.read_text(encoding="utf-8"))
    return out


def questions(src: dict[str, list[dict]]) -> list[tuple[str, str]]:
    """N_QUESTIONS real (question, video id) pairs whose video is planted (seeded sample)."""
    pool = [(q["question"], str(q["video_id"])) for q in json.loads((TUTORIALVQA / "dev.json").read_text())]
    pool += [(q["question"], str(q["video_id"])) for q in
             json.loads((MEDVIDQA / "questions_with_transcripts.json").read_text())]
    pool = sorted({p for p in pool if p[1] in src})
    rng = np.random.default_rng(SEED)
    return [pool[i] for i in sorted(rng.choice(len(pool), size=min(N_QUESTIONS, len(pool)), replace=False))]


def synthetic(i: int, src: dict[str, list[dict]], ids: list[str]) -> tuple[list[dict], list[tuple[str, int, int]]]:
    """Cues of synthetic video ``i`` and its parts [(source id, first cue, n cues)]; deterministic in ``i``."""
    rng = np.random.default_rng([SEED, i])
    cues: list[dict] = []
    parts = []
    t = i * 0.001  # a unique start: two cuts of the same cues are still different files (no duplicate)
    for _ in range(1 if rng.random() < 0.5 else 2):
        sid = ids[int(rng.integers(len(ids)))]
        c = src[sid]
        first = 2 * int(rng.integers(0, max(1, len(c) // 4)))  # even: windows line up with the source's
        n = int(rng.integers(max(4, (len(c) - first) // 3), len(c) - first + 1)) // 2 * 2  # even: so are the next
        base = c[first]["start"]
        for cue in c[first:first + n]:
            cues.append({"start": round(t + cue["start"] - base, 3), "duration": cue["duration"], "text": cue["text"]})
        t = cues[-1]["start"] + cues[-1]["duration"] + 1.0
        parts.append((sid, first, n))
    return cues, parts


def write_corpus_files(n: int, src: dict[str, list[dict]], folder: Path) -> list[Path]:
    """The transcript files of an ``n``-video corpus (planted real ones + synthetic), written once."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = sorted(src)
    paths = []
    for vid in ids:
        p = folder / f"{vid}.json"
        if not p.exists():
            p.write_text(json.dumps(src[vid]), encoding="utf-8")
        paths.append(p)
    for i in range(n - len(ids)):
        p = folder / f"syn{i:06d}.json"
        if not p.exists():
            p.write_text(json.dumps(synthetic(i, src, ids)[0]), encoding="utf-8")
        paths.append(p)
    return paths


# --------------------------------------------------------------------------- the real encoder, cached by text
class CachedEncoder:
    """The real text encoder; each distinct text is encoded once (same text -> same vector)."""

    def __init__(self, real: Any, store: Path | None = None) -> None:
        self._real = real
        self._cache: dict[str, np.ndarray] = {}
        self._store = store  # real encodings kept across runs (runs/scale/real-vectors.npz): a rerun encodes nothing
        if store is not None and store.is_file():
            with np.load(store, allow_pickle=False) as z:
                self._cache.update(zip(z["texts"].tolist(), z["vectors"]))
            logger.info("%d real vectors from %s", len(self._cache), store)
        self.encoded = 0
        self.requested = 0
        self.encode_s = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    derive = False
    """True: a text not in the cache gets a derived vector instead of being encoded (see :meth:`_derive`)."""
    derived = 0

    def seed_from(self, root: Path) -> int:
        """Put the window vectors of an earlier (real-encoder) corpus into the cache; returns how many."""
        from vcval.corpus import Corpus

        c = Corpus.open(root, read_only=True)
        for vid in c.video_ids():
            wins = c._store.window_documents(vid)
            if wins:
                vecs = np.load(root / "index" / "vectors" / f"{vid}.npy")
                self._cache.update(zip([w[2] for w in wins], vecs.astype(np.float32)))
        c.close()
        self._prefix = {t[:48]: t for t in self._cache}
        self._words: dict[str, list[str]] = {}
        for t in self._cache:
            for w in set(t.lower().split()):
                self._words.setdefault(w, []).append(t)
        return len(self._cache)

    def _save(self) -> None:
        texts = list(self._cache)
        tmp = self._store.with_name("tmp-" + self._store.name)
        np.savez(tmp, texts=np.array(texts, dtype=np.str_), vectors=np.stack([self._cache[t] for t in texts]))
        os.replace(tmp, self._store)

    def _derive(self, text: str) -> np.ndarray:
        """A real vector of a cached text that starts like ``text`` (a window cut from the same cues), else of the
        cached text sharing the most words with it (found through its rarest word), plus N(0, NOISE) noise."""
        key = self._prefix.get(text[:48])
        if key is None:
            words = set(text.lower().split())
            rare = min((w for w in words if w in self._words), key=lambda w: len(self._words[w]), default=None)
            cands = self._words.get(rare, []) if rare else []
            key = max(cands[:200], key=lambda t: len(words & set(t.lower().split())), default=None)
        base = self._cache[key] if key is not None else next(iter(self._cache.values()))
        noise = np.random.default_rng(abs(hash(text)) % 2**32).normal(0, NOISE, base.shape).astype(np.float32)
        v = base + noise
        self.derived += 1
        return v / np.linalg.norm(v)

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray:
        texts = list(texts)
        self.requested += len(texts)
        todo = sorted({t for t in texts if t not in self._cache})
        if todo and self.derive:
            self._cache.update((t, self._derive(t)) for t in todo)
            todo = []
        if todo:
            for s in range(0, len(todo), 256):
                part = todo[s:s + 256]
                t0 = time.perf_counter()
                vecs = self._real.encode(part, **kw)
                self.encode_s += time.perf_counter() - t0
                self.encoded += len(part)
                self._cache.update(zip(part, np.asarray(vecs, np.float32)))
                if self._store is not None:
                    self._save()
        if not texts:
            return np.zeros((0, self._real.dim), np.float32)
        return np.stack([self._cache[t] for t in texts])


# --------------------------------------------------------------------------- helpers
def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def du_mb(*paths: Path) -> float:
    total = 0
    for p in paths:
        if p.is_file():
            total += p.stat().st_size
        elif p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return total / 1e6


def timed(fn: Any, reps: list[Any]) -> tuple[list[float], list[Any]]:
    """Milliseconds per call of fn(x) for x in reps, and the results."""
    ms, out = [], []
    for x in reps:
        t0 = time.perf_counter()
        out.append(fn(x))
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, out


def faiss_choices(base: np.ndarray | None, add_chunks: Any, dim: int, n: int, queries: np.ndarray,
                  kinds: list[str], keep: dict[str, Any] | None = None) -> dict[str, dict[str, float]]:
    """Build each FAISS index kind over the vectors, time 10-NN search, recall@10 (tie-aware) vs flat.

    ``ivf`` is the corpus's own index (``DenseIndex.upgrade_if_large``: IVF-Flat, ``ivf_cells(n)`` cells,
    nprobe ``IVF_NPROBE``); ``ivfpq`` IVF-PQ (min(2048, 4 sqrt(n)) cells, 48 x 8-bit codes); ``hnsw`` HNSW
    (M 32, efSearch 64). With ``keep``, the ``ivf`` DenseIndex is left in ``keep["ivf"]`` for the caller."""
    import faiss

    faiss.omp_set_num_threads(2)
    res: dict[str, dict[str, float]] = {}
    exact = None
    for kind in ["flat"] + [k for k in kinds if k != "flat"]:
        t0 = time.perf_counter()
        if kind == "ivf":  # the corpus's own index: ids are the vectors' positions
            from vcval.corpus.indexes import DenseIndex

            index = DenseIndex(dim)
            start = 0
            for chunk in add_chunks(None):
                index.add(np.arange(start, start + len(chunk)), chunk)
                start += len(chunk)
            index.upgrade_if_large(min_vectors=0)
            raw = index._index
        else:
            if kind == "flat":
                index = faiss.IndexFlatIP(dim)
            elif kind == "hnsw":
                index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = 40
                index.hnsw.efSearch = 64
            else:
                nlist = int(min(2048, 4 * np.sqrt(n)))
                quant = faiss.IndexFlatIP(dim)
                index = faiss.IndexIVFPQ(quant, dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
                sample = next(add_chunks(min(n, 40 * nlist)))
                index.cp.niter = 10
                index.train(sample)
                index.nprobe = 16
            for chunk in add_chunks(None):
                index.add(chunk)
            raw = index
        build = time.perf_counter() - t0
        timed_q = list(queries) if n < 1_000_000 or kind != "flat" else list(queries[:10])  # flat: ~seconds each
        ms, _ = timed(lambda q, ix=index: ix.search(q[None, :], 10), timed_q)
        scores, ids = index.search(queries, 10)
        if kind == "flat":
            exact = scores
            recall = 1.0
        else:
            assert exact is not None
            flat_scores = _exact_scores(base, add_chunks, ids, queries)  # true scores of the returned ids
            recall = float(np.mean([(flat_scores[i] >= exact[i, -1] - 1e-5).sum() / 10 for i in range(len(queries))]))
        res[kind] = {"build_s": build, "p50_ms": percentile(ms, 50), "p95_ms": percentile(ms, 95), "recall": recall,
                     "bytes": _index_bytes(raw)}
        logger.info("faiss %s over %d vectors: build %.1f s, p50 %.2f ms, recall %.3f", kind, n, build,
                    res[kind]["p50_ms"], recall)
        if keep is not None and kind == "ivf":
            keep["ivf"] = index
        del index, raw
    return res


def _index_bytes(index: Any) -> float:
    import faiss

    return float(faiss.serialize_index(index).nbytes) if index.ntotal < 2_000_000 else float("nan")


def _exact_scores(base: np.ndarray | None, add_chunks: Any, ids: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Inner products of queries (Q, D) with the vectors of ids (Q, 10) (-inf for -1)."""
    out = np.full(ids.shape, -np.inf, np.float32)
    if base is not None:
        for qi in range(len(queries)):
            ok = ids[qi] >= 0
            out[qi, ok] = base[ids[qi, ok]] @ queries[qi]
        return out
    want = {int(i) for i in ids.reshape(-1) if i >= 0}
    found: dict[int, np.ndarray] = {}
    start = 0
    for chunk in add_chunks(None):
        hit = [i for i in want if start <= i < start + len(chunk)]
        for i in hit:
            found[i] = chunk[i - start]
        start += len(chunk)
    for qi in range(len(queries)):
        for j, i in enumerate(ids[qi]):
            if i >= 0:
                out[qi, j] = found[int(i)] @ queries[qi]
    return out


# --------------------------------------------------------------------------- one (size, backend) run
def run_corpus(size: str, backend: str, out: Path, ask: bool) -> dict[str, Any]:
    """Build (or reuse the catalog of) the ``size`` corpus with ``backend``; measure it."""
    from vcval.corpus import Corpus
    from vcval.encoders import TextEncoder
    from vcval.retrieval import make_retriever, rank_videos

    n = SIZES[size]
    src = sources()
    qs = questions(src)
    paths = write_corpus_files(n, src, WORK / f"src-{size}")
    enc = CachedEncoder(TextEncoder.load(device="cpu"), store=WORK / "real-vectors.npz")
    # sentence-unit encodings (for the learned localizer) are made on first use, not at ingest: ingest is
    # measured without them, and ask is timed warm (each question asked once before; see report())
    Corpus.encode_units = lambda self, video_ids=None: 0  # type: ignore[method-assign]
    root = WORK / f"corpus-{size}-{backend}"
    lite = WORK / f"milvus-{size}.db"
    index = f"milvus-lite://{lite}" if backend == "milvus-lite" else None
    r: dict[str, Any] = {"size": size, "videos": n, "backend": backend}

    remove(root, lite)
    if backend == "milvus-lite":  # the catalog of the embedded run + an empty Milvus: open indexes everything
        emb_root = WORK / f"corpus-{size}-embedded"
        copy_catalog(emb_root, root)
        t0 = time.perf_counter()
        corpus = Corpus.open(root, text_encoder=enc, index=index)
        r["build_s"] = time.perf_counter() - t0
        r["ingest_vps"] = float("nan")
        r["windows"] = corpus.index_stats()["windows"]
    else:
        if n > 1_000:  # see the module docstring: the 1k run's real vectors are reused (same text, same vector)
            r["seeded_texts"] = enc.seed_from(WORK / "corpus-1k-embedded")
        if n > 10_000:  # and above 10k the texts they lack get derived vectors
            enc.derive = True
            r["ask_vectors"] = "derived"  # ask encodes the retrieved videos' sentences on first use: derived too
        corpus = Corpus.open(root, text_encoder=enc, index=index)
        t0 = time.perf_counter()
        chunk = max(1000, n // 10)  # at 100k, ten commits (each saves every index file once)
        for s in range(0, len(paths), chunk):
            corpus.add_transcripts(paths[s:s + chunk], progress=False)
            logger.info("%s %s: %d / %d videos in %.0f s", size, backend, min(s + chunk, n), n, time.perf_counter() - t0)
        total = time.perf_counter() - t0
        r["ingest_s"] = total
        r["ingest_vps"] = n / total
        r["windows"] = corpus.index_stats()["windows"]
        r["encoded_texts"], r["requested_texts"], r["encode_s"] = enc.encoded, enc.requested, enc.encode_s
        r["derived_texts"] = enc.derived
        tps_file = WORK / "encoder-throughput.json"  # measured when texts were really encoded (else an earlier run's)
        if enc.encoded >= 200:
            tps_file.write_text(json.dumps({"texts": enc.encoded, "seconds": enc.encode_s}))
        tps = json.loads(tps_file.read_text()) if tps_file.is_file() else {"texts": float("nan"), "seconds": 1.0}
        r["encode_tps"] = tps["texts"] / tps["seconds"]
        # had every requested text been encoded at the measured throughput:
        r["ingest_vps_all_encoded"] = n / (total - enc.encode_s + enc.requested / r["encode_tps"])
        corpus.close()
        t0 = time.perf_counter()
        corpus = Corpus.open(root, text_encoder=enc, index=index)  # load (or reconcile) from disk
        corpus.index_stats()
        r["build_s"] = time.perf_counter() - t0
    r["disk_mb"] = du_mb(root, lite)
    r["index_disk_mb"] = du_mb(root / "index", lite) if backend == "embedded" else du_mb(lite, root / "index")
    qtexts = [q for q, _ in qs]
    qvecs = enc._real.encode(qtexts)
    for m in ("bm25", "dense", "hybrid"):
        ret = make_retriever(corpus, m, encoder=enc._real)
        ret.search(qtexts[0], 10)  # warm-up (BM25 fit, first FAISS call)
        ms, hits = timed(lambda q, ret=ret: ret.search(q, 10), qtexts)
        r[f"{m}_p50"], r[f"{m}_p95"] = percentile(ms, 50), percentile(ms, 95)
        tops = [[v for v, _, _ in rank_videos(h, 10)] for h in hits]
        r[f"{m}_top10"] = tops
        r[f"{m}_found"] = float(np.mean([vid in t for (_, vid), t in zip(qs, tops)]))
    ms, _ = timed(lambda i: corpus.hybrid_search(qtexts[i], qvecs[i], 10), list(range(len(qs))))
    r["native_hybrid_p50"] = percentile(ms, 50)
    if ask:  # sentence units are encoded on first use (derived vectors above 1k: latency only)
        from vcval.pipeline import VCVAL

        qa = VCVAL.from_pretrained(corpus=corpus, device="cpu")
        for q in qtexts[:10]:  # warm: makes the unit encodings of the videos these questions retrieve
            qa.ask(q, k=5)
        ms, _ = timed(lambda q: qa.ask(q, k=5), qtexts[:10])
        r["ask_p50"], r["ask_p95"] = percentile(ms, 50), percentile(ms, 95)
    if backend == "embedded" and n <= 10_000:  # FAISS index choices (at 100k: the index-only row)
        vecs = np.concatenate([np.load(f) for f in sorted((root / "index" / "vectors").iterdir())])
        rng = np.random.default_rng(SEED)
        queries = np.concatenate([qvecs, vecs[rng.choice(len(vecs), 80, replace=False)]]).astype(np.float32)

        def chunks(limit: int | None, vecs: np.ndarray = vecs) -> Any:
            yield vecs if limit is None else vecs[rng.choice(len(vecs), limit, replace=False)]

        r["faiss"] = faiss_choices(vecs, chunks, vecs.shape[1], len(vecs), queries, ["hnsw", "ivf"])
    r["rss_mb"] = rss_peak_mb()
    out.write_text(json.dumps(r))
    return r


def run_index_only(size: str, out: Path) -> dict[str, Any]:
    """The index layer at ``size`` videos with derived vectors (no catalog): FAISS choices + bm25s."""
    from vcval.corpus.indexes import BM25Index, tokenize
    from vcval.encoders import TextEncoder
    from vcval.ingest.subtitles import clean_cues, parse_subtitles
    from vcval.ingest.windows import WindowConfig, make_windows

    n = SIZES[size]
    src = sources()
    ids = sorted(src)
    qs = questions(src)
    enc = TextEncoder.load(device="cpu")
    win: dict[str, tuple[list[str], np.ndarray]] = {}  # source id -> (window token strings, vectors)
    folder = WORK / "src-sources"
    write_corpus_files(len(ids), src, folder)
    t0 = time.perf_counter()
    done = WORK / "corpus-1k-embedded"
    if (done / "corpus.sqlite").is_file():  # the planted videos' real windows and vectors, from the 1k run
        from vcval.corpus import Corpus

        c = Corpus.open(done, read_only=True)
        for vid in ids:
            wins = c._store.window_documents(vid)
            win[vid] = ([" ".join(w[1]) for w in wins], np.load(done / "index" / "vectors" / f"{vid}.npy"))
        c.close()
    for vid in [v for v in ids if v not in win]:
        cues, _ = clean_cues(parse_subtitles(folder / f"{vid}.json"))
        w = make_windows(cues, WindowConfig())
        texts = [x.text for x in w]
        win[vid] = ([" ".join(t) for t in tokenize(texts)], np.asarray(enc.encode(texts), np.float32))
    encode_s = time.perf_counter() - t0
    plan = [synthetic(i, src, ids)[1] for i in range(n - len(ids))]
    plan = [[(vid, 0, 10**9)] for vid in ids] + plan
    dim = enc.dim

    def video_rows(parts: list[tuple[str, int, int]], vi: int) -> tuple[list[str], np.ndarray]:
        toks, vecs = [], []
        for sid, first, cnt in parts:
            t, v = win[sid]
            a, b = first // 2, min(len(t), (first + cnt) // 2)  # stride-2 windows of the cut
            toks += t[a:b]
            vecs.append(v[a:b])
        v = np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32)
        if vi >= len(ids):  # derived: perturbed copies of the real vectors
            noise = np.random.default_rng([SEED, 7, vi]).normal(0, NOISE, v.shape).astype(np.float32)
            v = v + noise
            v /= np.linalg.norm(v, axis=1, keepdims=True)
        return toks, v

    counts = [sum(max(0, min(len(win[s][0]), (f + c) // 2) - f // 2) for s, f, c in p) for p in plan]
    total = int(sum(counts))
    logger.info("%s index-only: %d videos, %d windows", size, n, total)

    # the derived vectors are generated once (a Python loop per video) into a memory-mapped file, then read in chunks
    t_gen = time.perf_counter()
    store = np.lib.format.open_memmap(WORK / f"vectors-{size}.npy", mode="w+", dtype=np.float32, shape=(total, dim))
    at = 0
    for vi, p in enumerate(plan):
        v = video_rows(p, vi)[1]
        store[at:at + len(v)] = v
        at += len(v)
    store.flush()
    r_gen_s = time.perf_counter() - t_gen

    def chunks(limit: int | None) -> Any:
        end = total if limit is None else min(total, limit)
        for a in range(0, end, 200_000):
            yield np.ascontiguousarray(store[a:min(end, a + 200_000)])

    qv = np.asarray(enc.encode([q for q, _ in qs]), np.float32)
    rng = np.random.default_rng(SEED)
    extra = [video_rows(plan[int(i)], int(i))[1] for i in rng.choice(n, 80, replace=False)]
    queries = np.concatenate([qv] + [e[int(rng.integers(len(e)))][None, :] for e in extra if len(e)])
    r: dict[str, Any] = {"size": size, "videos": n, "backend": "index-only (derived vectors)", "windows": total,
                         "source_encode_s": encode_s, "derive_s": r_gen_s}
    kept: dict[str, Any] = {}
    r["faiss"] = faiss_choices(None, chunks, dim, total, queries, ["ivf"], keep=kept)
    t0 = time.perf_counter()
    bm = BM25Index()
    wid = 0
    for p in plan:
        toks = [t for s, f, c in p for t in win[s][0][f // 2:min(len(win[s][0]), (f + c) // 2)]]
        bm.add(range(wid, wid + len(toks)), [t.split() for t in toks])
        wid += len(toks)
    bm.fit()
    r["bm25_build_s"] = time.perf_counter() - t0
    ms, _ = timed(lambda q: bm.search(q, 10), [q for q, _ in qs])
    r["bm25_p50"], r["bm25_p95"] = percentile(ms, 50), percentile(ms, 95)
    from vcval.corpus.indexes import SearchIndexes

    indexes = SearchIndexes(dense=kept["ivf"], bm25_windows=bm)  # the corpus's own hybrid search (RRF of both)
    ms, _ = timed(lambda pair: indexes.search_hybrid(pair[0], pair[1], 10), list(zip([q for q, _ in qs], qv)))
    r["hybrid_p50"], r["hybrid_p95"] = percentile(ms, 50), percentile(ms, 95)
    r["rss_mb"] = rss_peak_mb()
    (WORK / f"vectors-{size}.npy").unlink(missing_ok=True)  # the mapping stays readable until the process ends
    out.write_text(json.dumps(r))
    return r


# --------------------------------------------------------------------------- Ray speed-up
def run_ray(out: Path, n_files: int = 12) -> dict[str, Any]:
    """Ingest the same real transcripts (real encoder, no cache) in one process and with Ray on a 2-node local
    cluster (loopback, 1 CPU per node)."""
    import shutil

    from vcval.corpus import Corpus
    from vcval.ingest.distributed import init_ray, local_cluster, ray_ingest

    src = sources()
    folder = WORK / "ray-src"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for vid in sorted(src)[:n_files]:
        (folder / f"{vid}.json").write_text(json.dumps(src[vid]))
    r: dict[str, Any] = {"files": n_files}
    for name in ("one", "ray"):
        root = WORK / f"ray-corpus-{name}"
        shutil.rmtree(root, ignore_errors=True)
        c = Corpus.open(root)
        if name == "one":
            t0 = time.perf_counter()
            c.text_encoder  # noqa: B018 -- load time counted, as each Ray worker's is
            c.add_path(folder, progress=False)
            r["one_s"] = time.perf_counter() - t0
            continue
        import ray

        t0 = time.perf_counter()
        with local_cluster(nodes=2, cpus_per_node=1) as address:  # loopback; head + one worker node, 1 CPU each
            init_ray(address)  # already connected: vcval's own entry point returns the module
            r["ray_start_s"] = time.perf_counter() - t0
            r["ray_nodes"] = len([n for n in ray.nodes() if n["Alive"]])
            t0 = time.perf_counter()
            ray_ingest(c, [folder], address, batch=64)
            r["ray_s"] = time.perf_counter() - t0
    logger.info("ray bench: one process %.1f s, ray %.1f s", r["one_s"], r["ray_s"])
    r["speedup"] = r["one_s"] / r["ray_s"]
    out.write_text(json.dumps(r))
    return r


# --------------------------------------------------------------------------- report
def fmt(x: Any, nd: int = 1) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-"
    return f"{x:,.{nd}f}" if isinstance(x, float) else str(x)


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    return float(np.mean([len(set(x) & set(y)) / max(1, len(set(x))) for x, y in zip(a, b)]))


def report(results: list[dict[str, Any]], ray: dict[str, Any] | None, cmd: str) -> str:
    lines = [f"# Scale benchmark\n\nMade by `{cmd}` on {os.cpu_count()} shared CPU cores "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}). Method: see the docstring of "
             "`benchmarks/bench_scale.py`.\n"]
    corp = [r for r in results if "bm25_top10" in r]
    rows = []
    emb = {r["size"]: r for r in corp if r["backend"] == "embedded"}
    for r in corp:
        e = emb.get(r["size"])
        rows.append([r["size"], r["backend"], f"{r['windows']:,}", fmt(r.get("ingest_vps")),
                     fmt(r.get("ingest_vps_all_encoded")), fmt(r.get("build_s")), fmt(r["disk_mb"]),
                     fmt(r["rss_mb"], 0),
                     f"{fmt(r['bm25_p50'])} / {fmt(r['bm25_p95'])}", f"{fmt(r['dense_p50'])} / {fmt(r['dense_p95'])}",
                     f"{fmt(r['hybrid_p50'])} / {fmt(r['hybrid_p95'])}", fmt(r.get("native_hybrid_p50")),
                     f"{fmt(r.get('ask_p50'), 0)} / {fmt(r.get('ask_p95'), 0)}", f"{r['hybrid_found']:.2f}",
                     "-" if e is None or e is r else f"{overlap(e['hybrid_top10'], r['hybrid_top10']):.3f}",
                     "-" if e is None or e is r else f"{r['hybrid_p50'] / e['hybrid_p50']:.2f}x"])
    if rows:
        lines.append("## Corpora through the real ingest path (real encoder, cached by text)\n")
        lines.append(markdown_table(
            ["size", "backend", "windows", "ingest videos/s", "videos/s if all encoded", "open/build s", "disk MB",
             "peak RSS MB", "bm25 p50/p95 ms", "dense p50/p95 ms", "hybrid p50/p95 ms", "native RRF p50 ms",
             "ask p50/p95 ms", "planted found@10 (hybrid)", "top-10 video overlap vs embedded",
             "hybrid p50 vs embedded"], rows))
        enc_rows = [[r["size"], f"{r['requested_texts']:,}", f"{r['encoded_texts']:,}",
                     f"{r.get('seeded_texts', 0):,}", f"{r.get('derived_texts', 0):,}", fmt(r["encode_tps"], 0)]
                    for r in corp if "encoded_texts" in r]
        lines.append("\nText vectors the ingest asked for (windows, and at 1k the sentence units of the learned "
                     "localizer); how many distinct texts the real MiniLM encoded in that run; how many real vectors "
                     "were reused from the 1k run; how many were derived (perturbed copies of a real vector, at "
                     "100k only); and the MiniLM throughput measured at 1k (texts/s) behind the 'if all encoded' column. "
                     "Ingest makes no sentence-unit encodings at any size; ask encodes the retrieved videos' "
                     "sentences on first use (timed warm), with derived vectors at 100k, so the 100k ask p50 is a "
                     "latency figure, not a quality one:\n")
        lines.append(markdown_table(["size", "requested", "encoded (real)", "reused real", "derived", "texts/s"],
                                    enc_rows))
        for r in corp:
            e = emb.get(r["size"])
            if e is not None and e is not r:
                per = ", ".join(f"{m} {overlap(e[m + '_top10'], r[m + '_top10']):.3f}" for m in ("bm25", "dense", "hybrid"))
                lines.append(f"\n{r['size']} {r['backend']}: top-10 video overlap with the embedded index per retriever: "
                             f"{per}. The synthetic videos repeat real window texts, so many windows have identical "
                             "vectors and BM25 scores; the corpus cuts every hit list in one canonical order "
                             "(`vcval.types.canonical_order`) and RRF gives ties one rank, so the order each "
                             "engine left them in does not matter (before that: 0.92 / 0.92 / 0.82).")
        lines.append("\nFor milvus-lite, 'open/build' is opening the embedded run's catalog with an empty Milvus "
                     "index: the reconcile indexes every video from the stored vectors and tokens.\n")
    frows = []
    for r in results:
        f = r.get("faiss")
        if not f:
            continue
        flat = f["flat"]
        for kind, v in f.items():
            label = ("derived (perturbed real)" if "index-only" in r["backend"] else
                     "real + derived" if r.get("derived_texts") else "real")
            frows.append([r["size"], label,
                          f"{r['windows']:,}", kind, fmt(v["build_s"]), f"{fmt(v['p50_ms'], 2)} / {fmt(v['p95_ms'], 2)}",
                          f"{v['recall']:.3f}", f"{flat['p50_ms'] / v['p50_ms']:,.0f}x",
                          fmt(v["bytes"] / 1e6) if np.isfinite(v["bytes"]) else "-"])
    if frows:
        lines.append("\n## FAISS index choice (top-10 of the 20 real questions + 80 window vectors as queries)\n")
        lines.append(markdown_table(["size", "vectors", "windows", "index", "build s", "p50 / p95 ms",
                                     "recall@10 vs exact", "p50 speed-up vs flat", "size MB"], frows))
        lines.append("\nAt 100k the derived vectors are generated once into a memory-mapped file before the "
                     "builds (not counted in build s: " + ", ".join(f"{r['derive_s']:.0f} s" for r in results
                                                                 if "derive_s" in r) + ").")
    idx = [r for r in results if "bm25_build_s" in r]
    for r in idx:
        lines.append(f"\n{r['size']} index-only: {r['windows']:,} windows; bm25s build {r['bm25_build_s']:.0f} s, "
                     f"BM25 top-10 p50 {r['bm25_p50']:.0f} ms / p95 {r['bm25_p95']:.0f} ms"
                     + (f"; hybrid retrieval at the index layer (the corpus's `SearchIndexes.search_hybrid`: "
                        f"RRF of BM25 and the IVF index above, 100 deep each) p50 {r['hybrid_p50']:.0f} ms / p95 "
                        f"{r['hybrid_p95']:.0f} ms" if "hybrid_p50" in r else "")
                     + f"; peak RSS {r['rss_mb']:,.0f} MB. Vectors derived from the real ones (noise sigma {NOISE}).")
    if ray:
        nodes = ray.get("ray_nodes")
        where = f"a {nodes}-node local cluster on loopback (1 CPU per node)" if nodes else "a local cluster (2 CPUs)"
        lines.append(f"\n## Ray ingest\n\n{ray['files']} real transcripts, real encoder: one process "
                     f"{ray['one_s']:.1f} s, Ray on {where} {ray['ray_s']:.1f} s "
                     f"(+{ray['ray_start_s']:.1f} s to start the cluster): speed-up {ray['speedup']:.2f}x on 2 shared "
                     "cores (both runs load the encoder: once in one process, once per Ray worker).")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1k", help="comma-separated of 1k, 10k, 100k (default 1k)")
    p.add_argument("--backends", default="embedded,milvus-lite")
    p.add_argument("--no-ask", action="store_true", help="skip the ask p50 (loads the default localizer)")
    p.add_argument("--ray", action="store_true", help="also measure the Ray ingest speed-up")
    p.add_argument("--ray-files", type=int, default=12, help="real transcripts the Ray row ingests (default 12)")
    p.add_argument("--catalog", action="store_true",
                   help="at 100k, build the corpus through the ingest path (derived vectors; ~40 min, ~16 GB disk) "
                        "instead of measuring the index layer alone")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "scale.md"))
    p.add_argument("--one", nargs=2, metavar=("SIZE", "BACKEND"), help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    p.add_argument("--report-only", action="store_true",
                   help="no runs: the table from the result files of earlier runs (runs/scale/result-*.json)")
    args = p.parse_args()
    setup_script_logging()
    WORK.mkdir(parents=True, exist_ok=True)
    if args.one:
        size, backend = args.one
        if backend == "ray":
            run_ray(Path(args.json), n_files=args.ray_files)
        elif backend == "index-only":
            run_index_only(size, Path(args.json))
        else:
            run_corpus(size, backend, Path(args.json), ask=not args.no_ask)
        return
    results: list[dict[str, Any]] = []
    if args.report_only:
        for size in SIZES:
            for f in sorted(WORK.glob(f"result-{size}-*.json")):
                results.append(json.loads(f.read_text()))
        results.sort(key=lambda r: (SIZES[r["size"]], r["backend"] != "embedded"))
        ray_file = WORK / "result-ray.json"
        text = report(results, json.loads(ray_file.read_text()) if ray_file.is_file() else None,
                      "python benchmarks/bench_scale.py --sizes 1k --backends embedded,milvus-lite`, "
                      "`--sizes 10k,100k --backends embedded` (the 100k index layer), `--sizes 100k --catalog`, "
                      "`--one - ray --ray-files 48 --json runs/scale/result-ray.json`, then `--report-only")
        print(text)
        Path(args.out).write_text(text, encoding="utf-8")
        return
    for size in args.sizes.split(","):
        if size not in SIZES:
            raise SystemExit(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
        backends = (["embedded"] if args.catalog else ["index-only"]) if SIZES[size] > 10_000 \
            else args.backends.split(",")
        for backend in backends:
            out = WORK / f"result-{size}-{backend}.json"
            cmd = [sys.executable, __file__, "--one", size, backend, "--json", str(out)] + (["--no-ask"] if args.no_ask
                                                                                             else [])
            logger.info("running %s %s", size, backend)
            subprocess.run(cmd, check=True)
            results.append(json.loads(out.read_text()))
    ray = None
    if args.ray:
        out = WORK / "result-ray.json"
        subprocess.run([sys.executable, __file__, "--one", "-", "ray", "--json", str(out), "--ray-files",
                        str(args.ray_files)], check=True)
        ray = json.loads(out.read_text())
    text = report(results, ray, "python benchmarks/bench_scale.py " + " ".join(sys.argv[1:]))
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
