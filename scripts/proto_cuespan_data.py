"""Shared data plumbing of the CueSpan prototype scripts (corpora, units, cached embeddings, BM25, features)."""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vcval.corpus.encodings import content_words as words  # noqa: E402
from vcval.ingest.sentences import merge_into_sentences_with_mapping  # noqa: E402
from vcval.types import Cue  # noqa: E402

CACHE = ROOT / "data" / "cache"
@dataclass
class Video:
    vid: str
    raw: list[Cue]
    units: list[Cue]
    mapping: list[list[int]]
    emb: np.ndarray | None = None  # (N, D) unit alone
    ctx: np.ndarray | None = None  # (N, D) unit with +-1 neighbours
    wsets: list[set] = field(default_factory=list)

    @property
    def starts(self) -> np.ndarray:
        return np.array([u.start for u in self.units], dtype=np.float32)

    @property
    def ends(self) -> np.ndarray:
        return np.array([u.end for u in self.units], dtype=np.float32)

    @property
    def text(self) -> str:
        return " ".join(u.text for u in self.units)


@dataclass
class Corpus:
    name: str
    videos: dict[str, Video]
    idf: dict[str, float]

    def lexical(self, q_words: set[str], video: Video) -> np.ndarray:
        """(N,) IDF-weighted share of the question's content words present in each unit."""
        tot = sum(self.idf.get(w, self._max_idf) for w in q_words)
        if tot <= 0:
            return np.zeros(len(video.units), dtype=np.float32)
        return np.array(
            [sum(self.idf.get(w, self._max_idf) for w in q_words & ws) / tot for ws in video.wsets], dtype=np.float32
        )

    @property
    def _max_idf(self) -> float:
        return max(self.idf.values(), default=1.0)


def read_cues(path: Path) -> list[Cue]:
    rows = json.loads(path.read_text())
    return [Cue(k, float(r["start"]), float(r["start"]) + float(r.get("duration", 0.0)), r["text"]) for k, r in enumerate(rows)]


def load_corpus(name: str, encoder=None) -> Corpus:
    """name: 'tutorialvqa' | 'medvidqa'. Units, their embeddings (cached npz) and IDF over units."""
    tdir = ROOT / "data" / name / "transcripts"
    videos = {}
    for p in sorted(tdir.glob("*.json")):
        raw = read_cues(p)
        units, mapping = merge_into_sentences_with_mapping(raw)
        videos[p.stem] = Video(p.stem, raw, units, mapping)
    CACHE.mkdir(parents=True, exist_ok=True)
    cache = CACHE / f"cuespan_units_{name}.npz"
    sig = json.dumps([[v.vid, [u.text for u in v.units]] for v in videos.values()])
    loaded = False
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        if str(z["sig"]) == sig:
            for k, v in enumerate(videos.values()):
                v.emb, v.ctx = z[f"emb{k}"], z[f"ctx{k}"]
            loaded = True
    if not loaded:
        if encoder is None:
            from vcval.encoders import TextEncoder

            encoder = TextEncoder.load()
        t0 = time.time()
        arrays = {"sig": np.array(sig)}
        for k, v in enumerate(videos.values()):
            texts = [u.text for u in v.units]
            ctx = [" ".join(texts[max(0, i - 1) : i + 2]) for i in range(len(texts))]
            v.emb, v.ctx = encoder.encode(texts), encoder.encode(ctx)
            arrays[f"emb{k}"], arrays[f"ctx{k}"] = v.emb, v.ctx
        np.savez(cache, **arrays)
        print(f"[cache] encoded {name}: {len(videos)} videos in {time.time() - t0:.1f}s", flush=True)
    df: dict[str, int] = {}
    n_docs = 0
    for v in videos.values():
        v.wsets = [words(u.text) for u in v.units]
        for ws in v.wsets:
            n_docs += 1
            for w in ws:
                df[w] = df.get(w, 0) + 1
    idf = {w: math.log((n_docs + 1) / (c + 1)) + 1.0 for w, c in df.items()}
    return Corpus(name, videos, idf)


@dataclass
class Question:
    qid: str
    text: str
    vid: str
    start: float
    end: float
    video_length: float
    emb: np.ndarray | None = None
    wset: set = field(default_factory=set)


def load_questions(path: Path, corpus: Corpus, encoder=None) -> list[Question]:
    rows = json.loads(Path(path).read_text())
    qs = [
        Question(str(r["sample_id"]), r["question"], str(r["video_id"]), float(r["answer_start_second"]),
                 float(r["answer_end_second"]), float(r.get("video_length") or 0.0))
        for r in rows
        if str(r["video_id"]) in corpus.videos
    ]
    cache = CACHE / f"cuespan_questions_{corpus.name}_{Path(path).stem}.npz"
    texts = [q.text for q in qs]
    emb = None
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        if list(z["texts"]) == texts:
            emb = z["emb"]
    if emb is None:
        if encoder is None:
            from vcval.encoders import TextEncoder

            encoder = TextEncoder.load()
        emb = encoder.encode(texts)
        np.savez(cache, texts=np.array(texts), emb=emb)
    for q, e in zip(qs, emb):
        q.emb = e
        q.wset = words(q.text)
    return qs


class BM25Index:
    """bm25s over whole transcripts of the given videos."""

    def __init__(self, videos: list[Video]) -> None:
        import bm25s

        self._bm25s = bm25s
        self.vids = [v.vid for v in videos]
        self.index = bm25s.BM25()
        self.index.index(bm25s.tokenize([v.text for v in videos], stopwords="en", show_progress=False), show_progress=False)

    def search(self, queries: list[str], k: int) -> list[list[tuple[str, float]]]:
        k = min(k, len(self.vids))
        docs, scores = self.index.retrieve(
            self._bm25s.tokenize(queries, stopwords="en", show_progress=False), k=k, show_progress=False
        )
        return [[(self.vids[int(d)], float(s)) for d, s in zip(dr, sr)] for dr, sr in zip(docs, scores)]


def make_batch(pairs, corpus: Corpus, max_span: int, labels: bool = True, crop: int | None = None, rng=None):
    """Tensors for rows (question, video, is_positive, group). Labels: best-IoU cell for positive rows, -100 else.
    crop: train-time window of at most ``crop`` units (containing the gold cell for positives)."""
    import torch

    from vcval.models.cuespan.modeling_cuespan import best_cell

    windows = []
    for q, v, pos, _ in pairs:
        k = len(v.units)
        lo, hi = 0, k
        cell = best_cell(v.starts, v.ends, q.start, q.end, max_span)[:2] if (pos and labels) else None
        if crop and k > crop:
            if cell is not None:
                lo_min, lo_max = max(0, cell[1] - crop + 1), min(cell[0], k - crop)
                lo = rng.randint(lo_min, max(lo_min, lo_max))
            else:
                lo = rng.randint(0, k - crop)
            hi = lo + crop
        windows.append((lo, hi, cell))
    n = max(hi - lo for lo, hi, _ in windows)
    b = len(pairs)
    d = pairs[0][1].emb.shape[1]
    emb = np.zeros((b, n, d), np.float32)
    ctx = np.zeros((b, n, d), np.float32)
    st = np.zeros((b, n), np.float32)
    en = np.zeros((b, n), np.float32)
    mask = np.zeros((b, n), bool)
    lex = np.zeros((b, n), np.float32)
    qv = np.stack([q.emb for q, _, _, _ in pairs]).astype(np.float32)
    lab = np.full(b, -100, np.int64)
    grp = np.array([g for _, _, _, g in pairs], np.int64)
    dur = np.array([max(float(v.ends.max()), 1.0) for _, v, _, _ in pairs], np.float32)
    for r, ((q, v, _pos, _), (lo, hi, cell)) in enumerate(zip(pairs, windows)):
        k = hi - lo
        sl = slice(lo, hi)
        emb[r, :k], ctx[r, :k], st[r, :k], en[r, :k], mask[r, :k] = v.emb[sl], v.ctx[sl], v.starts[sl], v.ends[sl], True
        lex[r, :k] = corpus.lexical(q.wset, v)[sl]
        if cell is not None:
            lab[r] = (cell[0] - lo) * n + (cell[1] - lo)
    t = torch.from_numpy
    return dict(question=t(qv), cues=t(emb), cues_ctx=t(ctx), cue_start=t(st), cue_end=t(en), cue_mask=t(mask),
                lexical=t(lex), labels=t(lab), groups=t(grp), duration=t(dur))


def predict_pairs(model, pairs, corpus: Corpus, chunk: int = 64, bias_fn=None) -> list[tuple[int, int, float]]:
    """Best (first unit, last unit, score) for each (question, video) pair.
    bias_fn(video) -> (N, N) array added to the video's span scores (e.g. a span-prior shift)."""
    import torch

    model.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(pairs), chunk):
            part = [(q, v, False, 0) for q, v in pairs[s : s + chunk]]
            bt = make_batch(part, corpus, model.config.max_span_cues, labels=False)
            bt.pop("labels"), bt.pop("groups")
            sc = model(**bt).scores  # (B, N, N)
            n = sc.shape[1]
            if bias_fn is not None:
                sc = sc.clone()
                for r, (_, v) in enumerate(pairs[s : s + chunk]):
                    k = len(v.units)
                    sc[r, :k, :k] += torch.from_numpy(bias_fn(v).astype(np.float32))
            flat = sc.reshape(sc.shape[0], -1)
            best = flat.argmax(1)
            for r in range(sc.shape[0]):
                i, j = divmod(int(best[r]), n)
                out.append((i, j, float(flat[r, best[r]])))
    return out


def span_iou(a0: float, a1: float, b0: float, b1: float) -> float:
    from vcval.eval.metrics import temporal_iou

    return temporal_iou((a0, max(a0, a1)), (b0, max(b0, b1)))
