"""Offline equals online: the features stored for training are what the running service computes.

A platform whose spec derives numbers as well as bins is run end to end, then its records are sent to
the real service (`bentoml serve` in a subprocess). The service logs the features it computed for each
record beside its answer: each must equal the `features` asset's value for that row (strings equal,
numbers identical to the last bit).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ml_platform.lib.inference_log import all_closed_files, read_records
from ml_platform.quickstart import run_platform
from ml_platform_tests.conftest import new_platform, write_spec
from ml_platform_tests.serving.conftest import serving

DERIVED = [
    {"name": "age_group", "kind": "bins", "column": "age", "edges": [18, 25, 35, 50, 65, 100],
     "labels": ["18-25", "26-35", "36-50", "51-65", "66-100"]},
    {"name": "log_income", "kind": "log1p", "column": "income"},
    {"name": "income_per_score", "kind": "ratio", "numerator": "income", "denominator": "spending_score"},
    {"name": "income_capped", "kind": "clip", "column": "income", "max": 150000},
    {"name": "log_income_per_score", "kind": "log", "column": "income_per_score"},
]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    root = tmp_path_factory.mktemp("skew")
    spec_path = write_spec(root / "spec.yaml", source={"batches": 1, "rows_per_batch": 600}, derived=DERIVED)
    built = new_platform(root / "platform", spec_path)
    assert run_platform(built.defs, built.instance) == []
    yield built
    built.instance.dispose()


def as_request(spec, row: pd.Series) -> dict:
    """The raw fields as a client sends them: whole numbers as JSON integers."""
    record = {}
    for feature in spec.features:
        value = row[feature.name]
        record[feature.name] = int(value) if getattr(feature, "integer", False) else \
            float(value) if feature.type == "numeric" else value
    return record


def test_the_service_computes_the_assets_features_bit_for_bit(platform):
    spec = platform.spec
    [stored] = list((platform.root / "data" / "assets" / "features").glob("*"))
    features = pd.read_parquet(stored)
    assert len(features) > 500
    requests = [as_request(spec, row) for _, row in features.iterrows()]
    answered = []
    with serving(platform) as service, service.client() as client:
        log_dir = platform.root / f"inference-log-{service.url.rsplit(':', 1)[1]}"
        for start in range(0, len(requests), 200):
            response = client.post("/predict", json=requests[start:start + 200])
            assert response.status_code == 200, response.text
            answered += [p["record_id"] for p in response.json()]
    logged = {r["record_id"]: r["inputs"] for path in all_closed_files(log_dir) for r in read_records(path)}
    assert len(answered) == len(features) and set(answered) <= set(logged)
    numbers = [d["name"] for d in DERIVED if d["kind"] != "bins"]
    for position, record_id in enumerate(answered):
        inputs, row = logged[record_id], features.iloc[position]
        assert inputs["age_group"] == row["age_group"]
        served = np.array([inputs[n] for n in numbers], dtype=np.float64)
        stored_row = row[numbers].to_numpy(dtype=np.float64)
        assert served.tobytes() == stored_row.tobytes(), json.dumps({"served": inputs, "stored": row.to_dict()},
                                                                  default=str)

