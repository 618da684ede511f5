"""The fitted feature pipeline as plain numpy, for serving: same arithmetic, none of pandas' per-call cost.

`ColumnTransformer.transform` costs about 3 ms a call whatever the batch size (a DataFrame, object
columns, input validation at every step), thirty times the classifier itself, and the service pays it
once per batch while holding the GIL the HTTP loop needs. The compiled form reads the fitted
statistics out of the pipeline `build_pipeline` makes (impute + scale numbers, impute + one-hot
categories) and is used only if it reproduces the pipeline's probabilities on probe rows; any other
structure, or any difference, keeps the pipeline. Gradient boosting's pipeline (ordinal codes, then the
trees) compiles to `compiled_forest.CompiledBoosting` under the same check. It takes complete rows only: imputing is left to
the pipeline, so a row with a null goes there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)
TOLERANCE = 1e-9


@dataclass(frozen=True)
class CompiledPipeline:
    numeric: list[str]
    mean: np.ndarray
    scale: np.ndarray
    categorical: list[str]
    one_hot: list[dict[Any, int]]
    width: int
    classifier: Any

    def transform(self, rows: list[dict[str, Any]]) -> np.ndarray:
        numbers = np.array([[row[name] for name in self.numeric] for row in rows], dtype=float)
        features = np.zeros((len(rows), len(self.numeric) + self.width))
        features[:, : len(self.numeric)] = (numbers - self.mean) / self.scale
        for name, index in zip(self.categorical, self.one_hot):
            for i, row in enumerate(rows):
                position = index.get(row[name])
                if position is not None:
                    features[i, len(self.numeric) + position] = 1.0
        return features

    def predict_proba(self, rows: list[dict[str, Any]]) -> np.ndarray:
        return self.classifier.predict_proba(self.transform(rows))


def compile_pipeline(pipeline: Any, probe_rows: list[dict[str, Any]]) -> Any:
    """The compiled form, or None (keep the pipeline) if its structure is not ours or any answer differs."""
    import pandas as pd

    try:
        compiled = _read_compiled_form(pipeline)
        columns = [*compiled.numeric, *compiled.categorical]
        expected = pipeline.predict_proba(pd.DataFrame(probe_rows, columns=columns))
        difference = float(np.max(np.abs(compiled.predict_proba(probe_rows) - expected)))
    except Exception as exc:  # an optional speed-up: whatever goes wrong, the pipeline still serves
        logger.info(f"serving the pipeline as it is: {type(exc).__name__}: {exc}")
        return None
    if difference > TOLERANCE:
        logger.warning(f"compiled pipeline differs by {difference:.3g} on probe rows; serving the pipeline")
        return None
    return compiled


def _read_compiled_form(pipeline: Any) -> Any:
    """The first reader that knows the pipeline's shape: one-hot + scale, then gradient boosting's."""
    from ml_platform.lib.compiled_forest import read_boosting_pipeline

    refusals = []
    for reader in (_read_fitted_statistics, read_boosting_pipeline):
        try:
            return reader(pipeline)
        except ValueError as exc:
            refusals.append(str(exc))
    raise ValueError("; ".join(refusals))


def _read_fitted_statistics(pipeline: Any) -> CompiledPipeline:
    """Only the exact shape `build_pipeline` makes: exact classes, default options that change nothing."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if type(pipeline) is not Pipeline or list(pipeline.named_steps) != ["features", "classifier"]:
        raise ValueError(f"unexpected pipeline {pipeline!r:.200}")
    features, classifier = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    transformers = {name: (steps, list(columns)) for name, steps, columns in features.transformers_}
    if type(features) is not ColumnTransformer or list(transformers) not in (
            ["numeric", "categorical"], ["numeric", "categorical", "remainder"]) or \
            transformers.get("remainder", ("drop",))[0] != "drop":
        raise ValueError(f"unexpected transformers {list(transformers)}")
    numeric, numeric_columns = transformers["numeric"]
    categorical, categorical_columns = transformers["categorical"]
    shapes = [(numeric, SimpleImputer, StandardScaler), (categorical, SimpleImputer, OneHotEncoder)]
    if any(type(steps) is not Pipeline or [type(step) for _, step in steps.steps] != [impute, transform]
           for steps, impute, transform in shapes):
        raise ValueError("unexpected steps in the feature pipelines")
    scaler, encoder = numeric.steps[1][1], categorical.steps[1][1]
    imputers = [numeric.steps[0][1], categorical.steps[0][1]]
    if any(i.add_indicator or not _is_nan(i.missing_values) for i in imputers):
        raise ValueError("an imputer that changes non-null values")
    if (encoder.drop is not None or encoder.handle_unknown != "ignore" or encoder.min_frequency is not None
            or encoder.max_categories is not None or not scaler.with_mean or not scaler.with_std):
        raise ValueError("encoder or scaler options the compiled form does not reproduce")
    one_hot, offset = [], 0
    for categories in encoder.categories_:
        one_hot.append({value: offset + i for i, value in enumerate(categories.tolist())})
        offset += len(categories)
    return CompiledPipeline(numeric_columns, scaler.mean_, scaler.scale_, categorical_columns, one_hot, offset,
                            classifier)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


def probe_rows(spec: Any) -> list[dict[str, Any]]:
    """Every category of every column (and one it has never seen), numbers from below to above their range."""
    numeric = [feature for feature in spec.features if feature.type == "numeric"]
    categorical = [feature for feature in spec.features if feature.type == "categorical"]
    count = max([5, *(len(feature.categories) for feature in categorical)])
    rows = []
    for i in range(count):
        row = {}
        for feature in numeric:
            low = feature.min if feature.min is not None else -10.0
            high = feature.max if feature.max is not None else 10.0
            row[feature.name] = low - 0.1 * (high - low) + 1.2 * (high - low) * i / (count - 1)
        for feature in categorical:
            row[feature.name] = feature.categories[i % len(feature.categories)]
        rows.append(row)
    rows.append({**rows[0], **{feature.name: "never-seen" for feature in categorical}})
    return rows
