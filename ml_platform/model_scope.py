"""One model's names in the code location: asset keys, groups, jobs, sensors, pools, partitions and folders.

Every definition is built by a factory that takes a `ModelScope`, so one code location holds any number
of models side by side (`ml_platform/components/platform_model.py`, one instance per model). A scope
with no `name` is the single-model shortcut (`ML_PLATFORM_DATASET`): its names are unprefixed, as they
were before models were components, so an existing instance's history and cursors carry over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dagster as dg
from upath import UPath

from ml_platform.lib.spec import DatasetSpec, load_spec

MODEL_TAG = "ml_platform/model"  # on every run of a model's jobs, sensors and schedule
_DECLARED = "ml_platform/model:"  # a code location's metadata key per model: `models_of` lists them
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


@lru_cache(maxsize=32)
def _cached_spec(path: str, mtime: float) -> DatasetSpec:
    return load_spec(path)


def dagster_name(model: str) -> str:
    """A model name as Dagster names (jobs, ops, groups) allow it: `-` becomes `_`."""
    name = model.replace("-", "_")
    if not _IDENTIFIER.match(name):
        raise ValueError(f"model name {model!r}: use lowercase letters, digits, '-' or '_', starting with a letter")
    return name


@dataclass(frozen=True)
class ModelScope:
    spec_path: str
    name: str = ""  # "" for the single-model shortcut; else a Dagster name (`dagster_name`)

    def spec(self) -> DatasetSpec:
        """The model's dataset spec, read again only when the file changes."""
        path = Path(self.spec_path).resolve()
        return _cached_spec(str(path), path.stat().st_mtime if path.exists() else 0.0)

    @property
    def label(self) -> str:
        """How logs and summaries name the model."""
        return self.name or self.spec().name

    def named(self, name: str) -> str:
        """A job, sensor, schedule, op, pool, group or partition set's name, made the model's own."""
        return f"{self.name}__{name}" if self.name else name

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, asset] if self.name else [asset])

    def selection(self, *assets: str) -> dg.AssetSelection:
        return dg.AssetSelection.assets(*(self.key(a) for a in assets))

    @property
    def batches(self) -> dg.DynamicPartitionsDefinition:
        """One dynamic partition per landed batch file of this model, keyed by the file's name."""
        return dg.DynamicPartitionsDefinition(name=self.named("batches"))

    @property
    def tags(self) -> dict[str, str]:
        return {MODEL_TAG: self.name} if self.name else {}

    def folder(self, root: UPath) -> UPath:
        """The model's files under a shared root: its own subfolder, or the root itself for the shortcut."""
        return root / self.name if self.name else root

    @property
    def declaration(self) -> dict[str, str]:
        """The code location's metadata entry that declares this model (`models_of` reads it back)."""
        return {f"{_DECLARED}{self.name}": self.spec_path}


def models_of(defs: dg.Definitions) -> list[ModelScope]:
    """The models a code location's definitions were built for, in name order."""
    metadata = defs.metadata or {}
    return sorted((ModelScope(str(getattr(path, "value", path)), key.removeprefix(_DECLARED))
                   for key, path in metadata.items() if key.startswith(_DECLARED)), key=lambda m: m.name)
