"""Old import paths of the modules regrouped in 0.2 (kept for one release, with a DeprecationWarning).

``import vcval.localize`` still works: it gives a module whose attributes are looked up in the
new homes listed here. Remove this file (and its hook in ``vcval/__init__.py``) in 0.3.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any

MOVED: dict[str, tuple[str, ...]] = {
    "vcval.localize": ("vcval.localization.baseline", "vcval.localization.base", "vcval.localization.prior"),
    "vcval.index": ("vcval.corpus.indexes", "vcval.ingest.windows"),
    "vcval.search_indexes": ("vcval.corpus.indexes",),
    "vcval.store": ("vcval.corpus.store",),
    "vcval.corpus_reader": ("vcval.corpus.corpus",),
    "vcval.fsutil": ("vcval.corpus.files", "vcval.utils"),
    "vcval.ids": ("vcval.corpus.files",),
    "vcval.eval": ("vcval.evaluation",),
    "vcval.eval.metrics": ("vcval.evaluation.metrics",),
    "vcval.eval.runner": ("vcval.evaluation.runner", "vcval.evaluation.questions"),
    "vcval.eval.report": ("vcval.evaluation.report",),
    "vcval.modeling": ("vcval.models.ccgs",),
    "vcval.modeling.span": ("vcval.localization.spans",),
    "vcval.modeling.localizer": ("vcval.localization.ccgs",),
    "vcval.modeling.ccgs": ("vcval.models.ccgs.modeling_ccgs", "vcval.models.ccgs.configuration_ccgs", "vcval.utils"),
    "vcval.modeling.layers": ("vcval.models.ccgs.layers",),
    "vcval.modeling.windows": ("vcval.models.ccgs.inputs",),
    "vcval.training.losses": ("vcval.models.ccgs.modeling_ccgs",),
    "vcval.training.evaluate_ccgs": ("vcval.evaluation.runner",),
}


class _Alias(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        for target in self.__dict__["_targets"]:
            module = importlib.import_module(target)
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {self.__name__!r} (moved to {', '.join(self.__dict__['_targets'])}) has no attribute {name!r}")


class _Loader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _Alias(spec.name)
        module.__dict__["_targets"] = MOVED[spec.name]
        module.__path__ = []  # a package, so that old submodule paths (vcval.modeling.span) resolve too
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        warnings.warn(f"{module.__name__} moved to {', '.join(MOVED[module.__name__])}; the old path goes in 0.3",
                      DeprecationWarning, stacklevel=3)


class MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves the old module names of :data:`MOVED` to alias modules."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname in MOVED:
            return importlib.machinery.ModuleSpec(fullname, _Loader(), is_package=True)
        return None


def install() -> None:
    """Add the finder to ``sys.meta_path`` once."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(MovedFinder())
