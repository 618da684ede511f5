"""A model as the service holds it: the fitted pipeline plus the versions every answer must carry.

A `ServedModel` is immutable; a reload builds a new one and swaps the reference, so a batch that
started on the old model finishes on it and no request ever sees half a swap. A model is identified by
its version and its `sha256`, the registry's `model_sha256` tag (the hash of the logged artifact's
bytes), so a fresh registry's "v1" is never taken for another registry's "v1". Complete rows are
predicted through the pipeline's compiled numpy form when it reproduces the pipeline exactly
(`compiled_pipeline`), everything else through the pipeline itself.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from ml_platform.lib import model_store
from ml_platform.lib.compiled_pipeline import compile_pipeline, probe_rows
from ml_platform.lib.features import model_spec
from ml_platform.lib.spec import DatasetSpec


@dataclass(frozen=True)
class ServedModel:
    model: Any
    version: str
    data_version: str
    spec: DatasetSpec
    source: str
    metrics: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""  # the registry's model_sha256 of this version; "" if it was never recorded
    compiled: Any = field(default=None, init=False, repr=False, compare=False)  # CompiledPipeline or CompiledBoosting
    classes: list[str] = field(default_factory=list, init=False, compare=False)
    columns: list[str] = field(default_factory=list, init=False, compare=False)
    threads: Callable[[], AbstractContextManager] = field(default=contextlib.nullcontext, init=False, repr=False,
                                                          compare=False)

    def __post_init__(self) -> None:
        inputs = model_spec(self.spec)
        object.__setattr__(self, "compiled", compile_pipeline(self.model, probe_rows(inputs)))
        object.__setattr__(self, "threads", one_openmp_thread(self.model))
        object.__setattr__(self, "classes", [str(c) for c in self.model.classes_])
        object.__setattr__(self, "columns", inputs.feature_names)

    def predict(self, rows: list[dict[str, Any]]) -> list[tuple[str, dict[str, float]]]:
        """(label, probabilities) per row; a non-finite probability is a model fault, never sent out.

        Rows carry the model's inputs: the request's fields plus the derived features, which the caller
        adds with `ml_platform.lib.features.add_features_to_rows` (the service does, and logs them)."""
        if self.compiled is not None and all(None not in row.values() for row in rows):
            probabilities = self.compiled.predict_proba(rows)  # numpy alone: no OpenMP team to limit
        else:
            import pandas as pd

            with self.threads():
                probabilities = self.model.predict_proba(pd.DataFrame(rows, columns=self.columns))
        classes = self.classes
        answers = []
        for row in probabilities.tolist():
            if not all(math.isfinite(p) for p in row):
                raise ArithmeticError(f"model v{self.version} returned non-finite probabilities {row}")
            best = max(range(len(row)), key=row.__getitem__)
            answers.append((classes[best], {c: round(p, 6) for c, p in zip(classes, row)}))
        return answers

    @property
    def identity(self) -> tuple[str, str]:
        return self.version, self.sha256

    def describe(self) -> dict[str, Any]:
        return {"model_version": self.version, "model_sha256": self.sha256, "data_version": self.data_version,
                "source": self.source, "classes": self.classes, "metrics": self.metrics}


def single_threaded(model: Any) -> Any:
    """Every `n_jobs` in the pipeline set to 1: joblib pools inside a request cause latency spikes."""
    if hasattr(model, "get_params"):
        model.set_params(**{k: 1 for k in model.get_params(deep=True) if k.endswith("n_jobs")})
    return model


def one_openmp_thread(model: Any) -> Callable[[], AbstractContextManager]:
    """What each call of the pipeline itself runs under (the compiled forms are numpy alone): one OpenMP
    thread if the model predicts in an OpenMP team (gradient boosting does, as wide as the CPUs, and has no
    `n_jobs`), else nothing.

    Set around every call, not once at load: OpenMP's thread count is per calling thread, and a model is
    loaded (or reloaded, by the alias follower) on another thread than the one that predicts. The limiter
    reuses one controller; a fresh `threadpool_limits` scans the loaded libraries (about 3 ms a call)."""
    from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting

    parts = [model, *(model.get_params(deep=True).values() if hasattr(model, "get_params") else ())]
    if not any(isinstance(part, BaseHistGradientBoosting) for part in parts):
        return contextlib.nullcontext
    return functools.partial(_openmp_controller().limit, limits=1)


@functools.cache
def _openmp_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="openmp")


def from_store(stored: Any) -> ServedModel:
    """A model from the BentoML store, loaded only if its bytes match the checksum taken at promotion."""
    metadata = stored.info.metadata
    model = model_store.load_verified(stored.path, metadata.get("sha256"))
    labels = stored.info.labels
    return ServedModel(single_threaded(model), stored_version(stored),
                       labels.get("data_version", ""),
                       DatasetSpec.model_validate(model_store.read_spec_json(stored.path)),
                       source=str(stored.tag), metrics=dict(metadata.get("metrics") or {}),
                       sha256=model_store.registry_sha256(stored))


def from_registry(registry: Any, version: str, tags: dict[str, str], fallback: DatasetSpec) -> ServedModel:
    """A version straight from MLflow's artifact store, loaded only if its bytes match the `model_sha256`
    in `tags` (read from the registry with the alias, so what is loaded is what the alias named).

    The spec is the one the model was logged with (its MLmodel metadata; `fallback` for a model logged
    without one), refused unless it names exactly the model's inputs."""
    from ml_platform.lib.features import model_spec
    from ml_platform.lib.mlflow_flavor import SPEC_KEY
    from ml_platform.lib.model_format import ModelIntegrityError
    from ml_platform.lib.registry import MODEL_SHA256_TAG

    sha = tags.get(MODEL_SHA256_TAG, "")
    where = f"models:/{registry.model_name}/{version}"
    if not sha:
        raise ModelIntegrityError(f"{where}: no {MODEL_SHA256_TAG} tag to check it against, so it is not loaded")
    model, metadata = registry.load_logged(version, sha)
    spec = DatasetSpec.model_validate(metadata[SPEC_KEY]) if SPEC_KEY in metadata else fallback
    if list(getattr(model, "feature_names_in_", [])) != model_spec(spec).feature_names:
        raise ModelIntegrityError(f"{where}: its logged spec does not name the model's inputs")
    return ServedModel(single_threaded(model), version, tags.get("data_version", ""), spec, source=where, sha256=sha)


def stored_version(stored: Any) -> str:
    """The MLflow version a stored model was promoted as (its tag's version if it carries no label)."""
    return stored.info.labels.get("mlflow_version", str(stored.tag.version))
