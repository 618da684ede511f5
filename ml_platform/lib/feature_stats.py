"""What a features table looks like, per column: enough to spot a broken derivation at a glance in the UI."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ml_platform.lib.spec import DatasetSpec

TOP_CATEGORIES = 3


def column_stats(spec: DatasetSpec, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Nulls, then min/max/mean for numbers or the most frequent values for categories, per model input.

    `spec` is the model's view (`features.model_spec`), so derived columns are described like raw ones."""
    rows = []
    for feature in spec.features:
        column = frame[feature.name]
        row: dict[str, Any] = {"column": feature.name, "type": feature.type, "nulls": int(column.isna().sum())}
        if feature.type == "numeric":
            numbers = pd.to_numeric(column, errors="coerce")
            row.update(min=_number(numbers.min()), max=_number(numbers.max()), mean=_number(numbers.mean()))
        else:
            counts = column.value_counts().head(TOP_CATEGORIES)
            row["top"] = ", ".join(f"{value} ({count})" for value, count in counts.items())
        rows.append(row)
    return rows


def _number(value: Any) -> float | None:
    return None if pd.isna(value) else round(float(value), 6)


def stats_markdown(rows: list[dict[str, Any]], derived: set[str]) -> str:
    header = "| column | derived | type | nulls | min | max | mean | top values |\n|---|---|---|---|---|---|---|---|"
    lines = [f"| {r['column']} | {'yes' if r['column'] in derived else ''} | {r['type']} | {r['nulls']} | "
             f"{_cell(r.get('min'))} | {_cell(r.get('max'))} | {_cell(r.get('mean'))} | {r.get('top', '')} |"
             for r in rows]
    return "\n".join([header, *lines])


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:g}"
