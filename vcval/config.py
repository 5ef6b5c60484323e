"""Configuration: one idiom for every config, and the paths vcval reads and writes.

Configs are flat dataclasses mixing in :class:`JsonConfig`: ``to_dict`` / ``from_dict`` /
``from_json`` / ``to_json``. One rule for unknown keys: a config a *person* wrote (a training
recipe, ``--set`` overrides) is read strictly and an unknown key is an error naming the known
ones; a config a *program* wrote (a checkpoint's ``config.json``, a corpus's stored settings)
is read with ``strict=False``, which skips unknown keys with a log line, so checkpoints from a
newer release still load.

Paths: one cache root, ``$VCVAL_HOME`` (default ``~/.cache/vcval``; the older ``VCVAL_CACHE``
is still read, with a warning, for one release). The default checkpoint and the demo assets are
found by :func:`checkpoint_dir` and :func:`demo_assets_dir`: next to the package in a source
checkout (``checkpoints/``, ``assets/demo/`` at the repository root), inside the package in an
installed wheel (``vcval/checkpoints``, ``vcval/assets/demo``).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T", bound="JsonConfig")

PACKAGE_DIR = Path(__file__).resolve().parent


class JsonConfig:
    """Mixin for flat dataclass configs: a JSON round-trip with one rule for unknown keys."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any], *, strict: bool = True) -> T:
        """Build from ``data``. Unknown keys: ValueError when ``strict``, else skipped with a log line."""
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown and strict:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown}; known keys are {sorted(known)}")
        if unknown:
            logger.info("%s: ignoring unknown config keys %s", cls.__name__, unknown)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls: type[T], path: str | os.PathLike, *, strict: bool = True) -> T:
        """:meth:`from_dict` of the JSON file ``path``."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")), strict=strict)

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` to ``path`` (sorted keys, indented)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


@dataclass
class PipelineConfig(JsonConfig):
    """How ``VCVAL.ask`` gathers candidates.

    n_videos: how many retrieved videos the localizer sees.
    n_windows: how many cue-window hits the retriever returns before grouping by video.
    lead_in_s: seconds of video an answer clip starts before the answer.
    """

    n_videos: int = 10
    n_windows: int = 300
    lead_in_s: float = 2.0


# --------------------------------------------------------------------------- paths
def cache_root() -> Path:
    """vcval's one cache folder: ``$VCVAL_HOME``, else ``~/.cache/vcval``."""
    home = os.environ.get("VCVAL_HOME")
    if not home and os.environ.get("VCVAL_CACHE"):
        logger.warning("VCVAL_CACHE is deprecated; set VCVAL_HOME instead (it is used the same way)")
        home = os.environ["VCVAL_CACHE"]
    return Path(home).expanduser() if home else Path.home() / ".cache" / "vcval"


def _bundled(*parts: str) -> Path:
    """``vcval/<parts>`` inside an installed wheel, else ``<repo>/<parts>`` in a source checkout."""
    installed = PACKAGE_DIR.joinpath(*parts)
    return installed if installed.exists() else PACKAGE_DIR.parent.joinpath(*parts)


def checkpoint_dir(model: str = "ccgs") -> Path | None:
    """The shipped checkpoint folder of ``model`` ("ccgs": ``checkpoints/``, "cuespan":
    ``checkpoints/cuespan/``), or None when this install has none."""
    path = _bundled("checkpoints") if model == "ccgs" else _bundled("checkpoints", model)
    return path if (path / "config.json").is_file() else None


def looks_like_path(name: str) -> bool:
    """Hub ids are ``name`` or ``org/name``; anything else is meant as a filesystem path."""
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def local_or_hub_folder(name_or_path: str, revision: str | None = None, *, what: str = "checkpoint", how: str = "",
                        allow_patterns: list[str] | None = None) -> Path:
    """The folder ``name_or_path`` names: a local folder as it is; else a Hugging Face Hub repo id at ``revision``,
    fetched with ``snapshot_download`` (the opt-in network path; the local Hub cache serves it when it holds it).

    NotFoundError (with ``how``, e.g. how to train one, appended) for a path that is no folder, and for any failure
    of the Hub (offline without a cached copy, unknown repo or revision, network), naming what to do, instead of
    the Hub client's own error.
    """
    from vcval.errors import NotFoundError

    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    tail = f"; {how}" if how else ""
    if path.exists() or looks_like_path(name_or_path):
        raise NotFoundError(f"{what} folder {name_or_path!r} does not exist (or is not a folder){tail}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name_or_path, revision=revision, allow_patterns=allow_patterns))
    except Exception as exc:  # huggingface_hub raises many types (offline, 401/404, HTTP, invalid id)
        offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
        hint = ("HF_HUB_OFFLINE is set and no copy is cached here: unset it with network access, or pass a local "
                "folder" if offline else "check the repo id and revision, or pass a local folder")
        at = f" at revision {revision}" if revision else ""
        raise NotFoundError(f"could not fetch the {what} {name_or_path!r}{at} from the Hugging Face Hub "
                            f"({type(exc).__name__}); {hint}{tail}") from exc


def demo_assets_dir() -> Path:
    """The embedded demo corpus assets (videos, subtitles, catalog, questions)."""
    return _bundled("assets", "demo")
