"""A dataset spec inferred from a CSV: the template `make new-model` writes for the user to edit.

Each column becomes a feature of the type its values have: numbers (with their observed range, whole
numbers marked), ISO timestamps, or categories (the values seen). A text column with more distinct
values than `max_categories` (an id, free text) is left out, and the template's comment says so.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import yaml

from ml_platform.lib.spec import DatasetSpec

MAX_CATEGORIES = 50


def _numeric(values: pd.Series) -> pd.Series | None:
    parsed = pd.to_numeric(values, errors="coerce")
    return parsed if parsed.notna().sum() >= 0.99 * values.notna().sum() else None


def _is_timestamp(values: pd.Series) -> bool:
    sample = values.dropna().astype(str).head(200)
    parsed = pd.to_datetime(sample, errors="coerce", utc=True, format="ISO8601")
    return len(sample) > 0 and parsed.notna().all() and sample.str.contains("-").all()


def _feature(name: str, values: pd.Series, max_categories: int) -> dict | None:
    nullable = bool(values.isna().any())
    base = {"name": name, **({"nullable": True} if nullable else {})}
    numbers = _numeric(values)
    if numbers is not None:
        whole = bool((numbers.dropna() % 1 == 0).all())
        low, high = numbers.min(), numbers.max()
        return {**base, "type": "numeric", "min": math.floor(low), "max": math.ceil(high),
                **({"integer": True} if whole else {})}
    if _is_timestamp(values):
        return {**base, "type": "timestamp"}
    categories = sorted(values.dropna().astype(str).unique())
    if len(categories) > max_categories:
        return None
    return {**base, "type": "categorical", "categories": categories}


def infer_spec(csv: Path, name: str, target: str, max_categories: int = MAX_CATEGORIES) -> tuple[dict, list[str]]:
    """The spec (as YAML-ready data, validated) and the columns left out; the CSV's folder is the source:
    each CSV landed there later is a batch."""
    frame = pd.read_csv(csv, dtype=str, keep_default_na=True)
    if target not in frame.columns:
        raise ValueError(f"{csv}: no column {target!r} to predict; the columns are {list(frame.columns)}")
    features, left_out = [], []
    for column in frame.columns.drop(target):
        feature = _feature(column, frame[column], max_categories)
        (features.append(feature) if feature else left_out.append(column))
    classes = sorted(frame[target].dropna().astype(str).unique())
    spec = {"name": name, "description": f"Inferred from {csv.name}; edit to taste.",
            "target": {"name": target, "classes": classes}, "features": features,
            "source": {"kind": "folder", "path": str(csv.resolve().parent), "pattern": "*.csv"}}
    DatasetSpec.model_validate(spec)  # the template loads as it is
    return spec, left_out


def spec_yaml(spec: dict, csv: Path, left_out: list[str]) -> str:
    """The template with a header that says where it came from and what to check."""
    notes = [f"# Inferred from {csv} by `make new-model`: check the ranges, categories and thresholds.",
             "# Ranges are the values seen; widen them, or new rows outside them are quarantined."]
    if left_out:
        notes.append(f"# Left out (more than {MAX_CATEGORIES} distinct text values, e.g. ids): {', '.join(left_out)}")
    return "\n".join(notes) + "\n" + yaml.safe_dump(spec, sort_keys=False, width=120)
