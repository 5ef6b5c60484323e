"""Dataclass configs with a JSON round-trip (no argparse objects ever land in a checkpoint)."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T", bound="JsonConfig")


class JsonConfig:
    """Mixin: ``to_dict`` / ``from_dict`` / ``save`` / ``load`` for flat dataclass configs."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown config keys {unknown}; known keys are {sorted(known)}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def load(cls: type[T], path: str | Path) -> T:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class PipelineConfig(JsonConfig):
    """How ``VCVAL.ask`` turns a question into answers.

    method: "bm25-video" | "bm25" | "dense" | "hybrid" (baseline localizer) | "ccgs" | "default".
    n_videos: how many retrieved videos the localizer sees.
    n_windows: how many cue-window hits the retriever returns before grouping by video.
    """

    method: str = "default"
    n_videos: int = 10
    n_windows: int = 300
