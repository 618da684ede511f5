"""Offline scoring of a file of unlabelled records, answering exactly as the service would.

Each row goes through the service's own request type (so a row the service would refuse with a 400 is
refused here, with the same field and reason), then the same features function and the same
`ServedModel.predict`. A batch's answers therefore equal the service's answers for the same records.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from ml_platform.lib.features import add_features_to_rows
from ml_platform.lib.model_signature import probability_column
from ml_platform.lib.request_schema import record_model
from ml_platform.lib.served_model import ServedModel
from ml_platform.lib.spec import DatasetSpec

RECORD_ID, ROW = "record_id", "source_row"


@dataclass(frozen=True)
class Scored:
    predictions: pd.DataFrame
    refused: dict[str, int]  # "<field>: <reason>" -> rows


def read_unlabelled(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """A CSV (cells as text, as landing reads them) or Parquet file with at least the spec's raw fields."""
    with path.open("rb") as f:
        frame = pd.read_parquet(f) if path.suffix == ".parquet" else pd.read_csv(f, dtype=str, skipinitialspace=True)
    missing = [name for name in spec.feature_names if name not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: missing column(s) {missing}; the spec's fields are {spec.feature_names}")
    return frame


def as_request_values(spec: DatasetSpec, row: dict[str, Any]) -> dict[str, Any]:
    """A file's cells as a JSON client would send them: numbers as numbers (whole ones as integers), blanks as null."""
    values: dict[str, Any] = {}
    for feature in spec.features:
        value = row.get(feature.name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values[feature.name] = None
        elif feature.type == "numeric":
            values[feature.name] = _number(value, feature.integer)
        else:
            values[feature.name] = str(value)
    return values


def _number(value: Any, integer: bool) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value  # left as it came: the request type refuses it and names the field
    return int(number) if integer and number.is_integer() else number


def score(spec: DatasetSpec, frame: pd.DataFrame, model: ServedModel, id_prefix: str) -> Scored:
    """Predict every row the request type accepts; `record_id` is `<id_prefix>-<row number>`."""
    record_type = record_model(spec)
    accepted, positions, refused = [], [], Counter()
    for position, row in enumerate(frame.to_dict("records")):
        try:
            accepted.append(record_type.model_validate(as_request_values(spec, row)).model_dump())
            positions.append(position)
        except ValidationError as exc:
            refused.update({f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors()})
    rows = add_features_to_rows(spec, accepted)
    answers = model.predict(rows) if rows else []
    out = pd.DataFrame(rows, columns=[*spec.feature_names, *(d.name for d in spec.derived)])
    out.insert(0, RECORD_ID, [f"{id_prefix}-{p}" for p in positions])
    out.insert(1, ROW, positions)
    out["model_version"], out["data_version"] = model.version, model.data_version
    out["label"] = [label for label, _ in answers]
    for name in model.classes:
        out[probability_column(name)] = [probabilities[name] for _, probabilities in answers]
    return Scored(out, dict(sorted(refused.items())))
