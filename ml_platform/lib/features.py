"""The derived features: one function computes them for the `features` asset and for every served request.

Training/serving skew cannot creep in because there is nothing to keep in sync: `derive` works on
columns as numpy arrays, and both a validated DataFrame (`add_features`) and the service's list of
request records (`add_features_to_rows`) are turned into the same arrays, sent through the same numpy
calls, and turned back. Fitted preprocessing (scaling, one-hot) is not here: it is learnt from data and
travels inside the model's pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ml_platform.lib.derived_spec import Derived, evaluation_order
from ml_platform.lib.spec import CategoricalFeature, DatasetSpec, NumericFeature

TIME_PARTS = {"hour": (0, 23), "weekday": (0, 6), "month": (1, 12)}


def derive(spec: DatasetSpec, columns: dict[str, Any]) -> dict[str, np.ndarray]:
    """The derived columns from the raw ones: numbers as float64 (NaN for missing), bins as labels or None.

    `columns` maps each raw column the derivations read to its values: numbers (None for missing) or
    timestamps (ISO 8601 strings, datetimes or datetime64; naive means UTC). Timestamps are parsed one by
    one (`format="mixed"`): pandas' ISO 8601 fast path gives a naive value the offset of the value before it."""
    known: dict[str, np.ndarray] = {}
    for name in spec.numeric_features:
        if name in columns:
            known[name] = np.asarray(columns[name], dtype=float)
    for name in spec.timestamp_features:
        if name in columns:
            known[name] = pd.to_datetime(pd.Series(columns[name], dtype=object), utc=True, format="mixed")
    out: dict[str, np.ndarray] = {}
    for i in evaluation_order(spec.derived, {f.name: f.type for f in spec.features}):
        d = spec.derived[i]
        known[d.name] = out[d.name] = _compute(d, known)
    return out


def _compute(d: Derived, known: dict[str, Any]) -> np.ndarray:
    if d.kind == "bins":
        x = known[d.column]
        edges = np.asarray(d.edges, dtype=float)
        index = np.searchsorted(edges, x, side="left") - 1
        index[x == edges[0]] = 0  # the first bin includes its lower edge
        inside = (index >= 0) & (index < len(d.labels)) & ~np.isnan(x)
        labels = np.asarray(d.labels, dtype=object)
        return np.where(inside, labels[np.clip(index, 0, len(d.labels) - 1)], None)
    if d.kind == "timestamp_part":
        stamps = known[d.column].dt
        part = stamps.weekday if d.part == "weekday" else getattr(stamps, d.part)
        return part.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if d.kind == "log":
            values = np.log(known[d.column])
        elif d.kind == "log1p":
            values = np.log1p(known[d.column])
        elif d.kind == "ratio":
            values = known[d.numerator] / known[d.denominator]
        else:
            low = -np.inf if d.min is None else d.min
            values = np.clip(known[d.column], low, np.inf if d.max is None else d.max)
    return np.where(np.isfinite(values), values, np.nan)


def add_features(spec: DatasetSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with the derived columns added (a copy); the `features` asset's computation."""
    missing = pd.Series(None, index=frame.index, dtype=object)  # an optional field a client left out
    sources = {name: frame.get(name, missing).to_numpy(dtype=object if name in spec.timestamp_features else float)
               for name in _sources(spec)}
    return frame.assign(**derive(spec, sources))


def add_features_to_rows(spec: DatasetSpec, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with the derived fields added (None for missing); the service's computation."""
    if not spec.derived:
        return rows
    derived = derive(spec, {name: [row.get(name) for row in rows] for name in _sources(spec)})
    as_lists = {name: [None if v is None or v != v else v for v in values.tolist()]
                for name, values in derived.items()}
    return [{**row, **{name: values[i] for name, values in as_lists.items()}} for i, row in enumerate(rows)]


def _sources(spec: DatasetSpec) -> list[str]:
    produced = {d.name for d in spec.derived}
    read = [s for d in spec.derived for s in d.inputs if s not in produced]
    return list(dict.fromkeys(read))


def model_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec as the model and drift see it: raw numbers and categories, then each derived feature.

    Timestamps leave (the model takes their parts); a derived feature is nullable when its inputs'
    declared ranges allow a null result, so drift tests its missing share only when one can occur."""
    typed: dict[str, Any] = {f.name: f for f in spec.features}
    for i in evaluation_order(spec.derived, {f.name: f.type for f in spec.features}):
        d = spec.derived[i]
        typed[d.name] = _as_feature(d, typed)
    kept = [f for f in spec.features if f.type != "timestamp"] + [typed[d.name] for d in spec.derived]
    return spec.model_copy(update={"features": kept, "derived": []})


def _as_feature(d: Derived, typed: dict[str, Any]) -> NumericFeature | CategoricalFeature:
    source = typed[d.inputs[0]]
    nullable = any(typed[name].nullable for name in d.inputs)
    low, high = getattr(source, "min", None), getattr(source, "max", None)
    if d.kind == "bins":
        outside = low is None or high is None or low < d.edges[0] or high > d.edges[-1]
        return CategoricalFeature(name=d.name, categories=d.labels, nullable=nullable or outside)
    if d.kind == "timestamp_part":
        low, high = TIME_PARTS[d.part]
        return NumericFeature(name=d.name, min=low, max=high, integer=True, nullable=nullable)
    if d.kind == "clip":
        low = d.min if low is None or (d.min is not None and d.min > low) else low
        high = d.max if high is None or (d.max is not None and d.max < high) else high
        return NumericFeature(name=d.name, min=low, max=high, nullable=nullable)
    if d.kind == "ratio":
        den = typed[d.denominator]
        zero_possible = den.min is None or den.max is None or den.min <= 0 <= den.max
        return NumericFeature(name=d.name, nullable=nullable or zero_possible)
    floor = 0 if d.kind == "log" else -1
    return NumericFeature(name=d.name, nullable=nullable or low is None or low <= floor)
