"""Distributed ingest with Ray: per-video work as Ray tasks, one transactional committer.

Each video (or ``.json`` transcript) is prepared by one Ray task: hash, subtitles / ASR,
transcode, visual features and the window vectors of the corpus's text encoder (loaded once
per worker process). Tasks write nothing into the corpus except, for videos, a staging folder
``.staging/<driver pid>_<hex>/`` holding the normalised mp4. The driver -- the only writer --
commits finished items in batches through the corpus's own add path (:meth:`Corpus._commit`:
one SQLite transaction + index update each), so the corpus is consistent whatever happens to
a worker:

- a worker that dies (killed, out of memory, node lost) has its task retried ``retries`` times
  by Ray; if it still fails the file is reported as failed and nothing of it is committed;
- a task that raises (bad file, duplicate) is reported, not retried;
- staging folders are deleted after the commit, and by ``Corpus.open`` when the driver died.

Multi-node clusters need the corpus directory (and the input files) on a file system every
node mounts at the same path; a local cluster (``address="auto"``) needs nothing else.
Ray is optional: imported only here (``pip install -c constraints.txt ray==2.60.0``).
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vcval.errors import InvalidInputError, VCVALError

logger = logging.getLogger(__name__)

DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class WorkItem:
    """One file for a worker: ``kind`` "transcript" | "video" | "url"."""

    kind: str
    path: str
    subtitles: str | None = None


@dataclass
class Snapshot:
    """What a worker needs to know about the corpus: ids and content hashes at the start of the run."""

    ids: set[str] = field(default_factory=set)
    hashes: dict[str, str] = field(default_factory=dict)

    def find_by_hash(self, content_hash: str) -> str | None:
        return self.hashes.get(content_hash)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self.ids


@dataclass(frozen=True)
class WorkerConfig:
    """Corpus settings a worker needs (plain data: shipped to every task)."""

    root: str
    window: dict[str, Any]
    text_encoder: str | None
    visual_features: bool = True
    asr_model: str | None = None
    staging_tag: str = ""
    limits: Any = None


_MODELS: dict[str, Any] = {}  # per worker process: loaded encoders


def _text_encoder(spec: str | None) -> Any:
    key = f"text:{spec}"
    if key not in _MODELS:
        from vcval.encoders import DEFAULT_TEXT_ENCODER, TextEncoder

        _MODELS[key] = TextEncoder.load(None if spec in (None, DEFAULT_TEXT_ENCODER) else spec)
    return _MODELS[key]


def _image_encoder() -> Any:
    if "image" not in _MODELS:
        from vcval.encoders import load_image_encoder

        _MODELS["image"] = load_image_encoder()
    return _MODELS["image"]


def prepare_item(item: WorkItem, snapshot: Snapshot, cfg: WorkerConfig) -> tuple[Any, Any]:
    """Prepare one file (runs inside a Ray task) -> (StagedVideo with its window vectors, its sentence-unit
    encodings for the learned localizer or None)."""
    from vcval.corpus.encodings import encode_units
    from vcval.ingest.prepare import check_video, encode_windows, prepare_transcript, stage_video
    from vcval.ingest.windows import WindowConfig

    window = WindowConfig.from_dict(cfg.window)
    path = Path(item.path)
    if item.kind == "transcript":
        staged = prepare_transcript(path, snapshot, window)
    else:
        stage = Path(cfg.root) / ".staging" / f"{cfg.staging_tag}_{uuid.uuid4().hex[:12]}"
        stage.mkdir(parents=True)
        try:
            src = check_video(path, snapshot, subtitles=item.subtitles, video_id=None,
                              report=lambda *a, **k: None, limits=cfg.limits)
            staged = stage_video(src, stage, window, subtitles=item.subtitles, title=None,
                                 visual_features=cfg.visual_features, image_encoder=_image_encoder,
                                 asr_model=cfg.asr_model, report=lambda *a, **k: None)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
    encoder = _text_encoder(cfg.text_encoder) if staged.windows else None
    encode_windows([staged], encoder)
    return staged, (encode_units(staged.cues, encoder) if encoder is not None else None)


def plan_items(paths: Sequence[str | os.PathLike], exclude: Path | None = None) -> tuple[list[WorkItem],
                                                                                       list[tuple[Path, str]]]:
    """Work items for files, folders (recursive) and ``.json`` transcripts; (items, [(path, reason)])."""
    from vcval.ingest.discover import plan_ingest

    items: list[WorkItem] = []
    bad: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        try:
            plan = plan_ingest(p, recursive=True, exclude=exclude)
        except VCVALError as exc:
            bad.append((p, str(exc)))
            continue
        if plan.unsupported is not None:
            bad.append((p, plan.unsupported))
            continue
        items += [WorkItem("transcript", str(t)) for t in plan.transcripts]
        items += [WorkItem("video", str(v), str(plan.subtitles[v]) if v in plan.subtitles else None)
                  for v in plan.videos]
    return items, bad


def init_ray(address: str, *, num_cpus: int | None = None) -> Any:
    """Connect to the Ray cluster at ``address`` ("auto": the local one, started here when none runs).

    Returns the ``ray`` module; VCVALError naming what to install / start when that fails.
    """
    try:
        import ray
    except ImportError as exc:
        raise VCVALError("--ray needs Ray: pip install -c constraints.txt ray==2.60.0") from exc
    if not isinstance(address, str) or not address.strip():
        raise InvalidInputError("--ray needs a cluster address (HOST:PORT or ray://HOST:PORT) or 'auto'")
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address == "auto":  # workers import the same vcval as this process (not an installed copy)
            code = str(Path(__file__).resolve().parents[2])
            path = os.pathsep.join(p for p in (code, os.environ.get("PYTHONPATH", "")) if p)
            ray.init(num_cpus=num_cpus, _node_ip_address="127.0.0.1",
                     runtime_env={"env_vars": {"PYTHONPATH": path}}, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError from ray
        raise VCVALError(f"cannot reach the Ray cluster at {address!r} ({type(exc).__name__}: {str(exc)[:200]}); "
                         "start one with `ray start --head --node-ip-address 127.0.0.1` or pass --ray auto") from exc
    return ray


@contextmanager
def local_cluster(nodes: int = 2, cpus_per_node: int = 1) -> Iterator[str]:
    """A multi-node Ray cluster on loopback (a head + ``nodes - 1`` worker nodes), connected; yields its address.

    For tests and benchmarks of the multi-node path on one machine: each node is its own raylet, so tasks
    cross node boundaries as on a real cluster. Workers import this checkout's vcval. Shut down on exit.
    """
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False})
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus_per_node)
        cluster.wait_for_nodes()
        code = str(Path(__file__).resolve().parents[2])
        ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": code}})
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


def ray_ingest(corpus: Any, paths: Sequence[str | os.PathLike], address: str = "auto", *,
               num_cpus: int | None = None, retries: int = DEFAULT_RETRIES, batch: int = 256,
               visual_features: bool = True, prepare: Callable[..., Any] | None = None,
               progress: bool = False) -> tuple[list[Any], list[tuple[Path, str]]]:
    """Ingest files / folders into ``corpus`` with Ray tasks; returns (records added, [(path, reason)]).

    ``retries``: times Ray re-runs a task whose worker died; ``batch``: items per commit;
    ``prepare``: the per-item task body (default :func:`prepare_item`; tests pass one that crashes).
    """
    from vcval.ingest.prepare import progress_bar

    corpus._check_writable()
    items, failures = plan_items(paths, exclude=corpus.root)
    if not items:
        return [], failures
    ray = init_ray(address, num_cpus=num_cpus)
    store = corpus._store
    snapshot = Snapshot(set(store.video_ids()), {r.content_hash: r.video_id for r in store.records()})
    cfg = WorkerConfig(root=str(corpus.root), window=dict(corpus.window_config.__dict__),
                       text_encoder=store.meta("text_encoder"), visual_features=visual_features,
                       asr_model=corpus.asr_model if isinstance(corpus.asr_model, (str, type(None))) else None,
                       staging_tag=str(os.getpid()), limits=corpus.limits)
    task = ray.remote(max_retries=int(retries), retry_exceptions=False)(prepare or prepare_item)
    snap_ref = ray.put(snapshot)
    pending = {task.remote(it, snap_ref, cfg): it for it in items}
    records: list[Any] = []
    ready_items: list[Any] = []
    t0 = time.perf_counter()
    bar = progress_bar(total=len(items), desc="ingesting (ray)", unit="file", disable=not progress)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=min(len(pending), 16), timeout=5.0)
            for ref in done:
                it = pending.pop(ref)
                bar.update(1)
                try:
                    ready_items.append(ray.get(ref))
                except Exception as exc:
                    failures.append((Path(it.path), _task_error(exc, retries)))
            if len(ready_items) >= batch or (ready_items and not pending):
                records += _commit(corpus, ready_items, failures)
                ready_items = []
    finally:
        bar.close()
        for staged, _ in ready_items:  # interrupted before their commit
            _drop_staging(staged)
    logger.info("ray ingest: %d added, %d failed in %.1f s", len(records), len(failures), time.perf_counter() - t0)
    return records, failures


def _task_error(exc: BaseException, retries: int) -> str:
    """A one-line reason for a failed task (the VCVALError's message, or that the worker died)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, VCVALError):
        return str(cause)
    name = type(exc).__name__
    if "WorkerCrashed" in name or "NodeDied" in name or "ActorDied" in name or "ObjectLost" in name:
        return f"the Ray worker preparing it died ({retries} retries); nothing of it was committed: retry the file"
    return f"{name}: {' '.join(str(exc).split())[:300]}"


def _drop_staging(staged: Any) -> None:
    if getattr(staged, "media_src", None) is not None:
        shutil.rmtree(Path(staged.media_src).parent, ignore_errors=True)


def _commit(corpus: Any, prepared: list[tuple[Any, Any]], failures: list[tuple[Path, str]]) -> list[Any]:
    """Commit prepared items through the corpus's transactional add path; a clash fails that item only.

    The workers' sentence-unit encodings are stored first (keyed by encoder + content, so the corpus
    reuses them instead of encoding again after the commit; orphans are removed on open).
    """
    from vcval.corpus.encodings import encodings_key, save_encodings
    from vcval.corpus.files import default_video_id

    encoder = corpus.text_encoder if any(s.windows for s, _ in prepared) else None
    ok: list[Any] = []
    seen: set[str] = set()
    taken: set[str] = set()
    for s, units in prepared:
        if corpus.find_by_hash(s.content_hash) is not None or s.content_hash in seen:
            failures.append((Path(s.source), f"same content as {corpus.find_by_hash(s.content_hash) or 'another file'}"
                                             " already in the corpus"))
            _drop_staging(s)
            continue
        if s.video_id in corpus or s.video_id in taken:
            s.video_id = default_video_id(Path(s.source).stem, s.content_hash)
        seen.add(s.content_hash)
        taken.add(s.video_id)
        ok.append(s)
        if units is not None and encoder is not None:
            save_encodings(corpus._encodings_dir() / f"{s.video_id}.npz", units,
                           encodings_key(encoder.name, s.content_hash))
    try:
        with corpus._storage_errors():
            return list(corpus._commit(ok))
    except VCVALError as exc:
        failures += [(Path(s.source), f"batch commit failed: {exc}") for s in ok]
        return []
    finally:
        for s in ok:
            _drop_staging(s)
