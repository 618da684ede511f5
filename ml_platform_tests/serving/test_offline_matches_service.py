"""Offline equals online: features and batch predictions are what the running service computes.

A platform whose spec derives numbers as well as bins is run end to end, then its records are sent to
the real service (`bentoml serve` in a subprocess). The service logs the features it computed for each
record beside its answer: each must equal the `features` asset's value for that row (strings equal,
numbers identical to the last bit). A file dropped in the scoring folder is picked up by the sensor and
scored by `predictions`: each row's label and probabilities must equal the service's answer.
"""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml_platform.defs.scoring.assets import scoring_dir
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
    records = [r for path in all_closed_files(log_dir) for r in read_records(path)]
    logged = {r["record_id"]: r["inputs"] for r in records}
    assert len(answered) == len(features) and set(answered) <= set(logged)
    assert all(0 < r["latency_ms"] < 60_000 for r in records), "each record's time to an answer is logged"
    numbers = [d["name"] for d in DERIVED if d["kind"] != "bins"]
    for position, record_id in enumerate(answered):
        inputs, row = logged[record_id], features.iloc[position]
        assert inputs["age_group"] == row["age_group"]
        served = np.array([inputs[n] for n in numbers], dtype=np.float64)
        stored_row = row[numbers].to_numpy(dtype=np.float64)
        assert served.tobytes() == stored_row.tobytes(), json.dumps({"served": inputs, "stored": row.to_dict()},
                                                                  default=str)


def test_a_dropped_file_is_scored_as_the_service_answers_it(platform):
    spec = platform.spec
    features = pd.read_parquet(next((platform.root / "data" / "assets" / "features").glob("*")))
    dropped = features[spec.feature_names].head(300).copy()
    dropped.loc[5, "age"], dropped.loc[7, "occupation"] = 7, "Astronaut"  # the service answers these 400
    folder = scoring_dir(platform.resources["storage"], spec)
    folder.mkdir(parents=True)
    dropped.to_csv(folder / "to-score.csv", index=False)

    repository = platform.defs.get_repository_def()
    with dg.build_sensor_context(instance=platform.instance, instance_ref=platform.instance.get_ref(),
                                 repository_def=repository, sensor_name="scoring_sensor",
                                 resources=platform.resources) as context:
        tick = repository.get_sensor_def("scoring_sensor").evaluate_tick(context)
    [request] = tick.run_requests
    platform.instance.add_dynamic_partitions("scoring_files", ["to-score.csv"])
    result = platform.job("score_file").execute_in_process(instance=platform.instance,
                                                          partition_key=request.partition_key)
    assert result.success
    scored = pd.read_parquet(platform.root / "data" / "assets" / "predictions" / "to-score.csv.parquet")
    [materialization] = result.asset_materializations_for_node("predictions")
    assert materialization.metadata["rows_refused"].value == 2
    assert materialization.metadata["refused_by_reason"].value == {"age: greater_than_equal": 1,
                                                                   "occupation: literal_error": 1}
    assert sum(materialization.metadata["counts_by_class"].value.values()) == len(scored) == 298
    assert scored["record_id"].is_unique and set(scored["model_version"]) == {"1"}

    same_records = pd.read_csv(folder / "to-score.csv").drop(index=[5, 7])  # as the file holds them
    requests = [as_request(spec, row) for _, row in same_records.iterrows()]
    with serving(platform) as service, service.client() as client:
        answers = client.post("/predict", json=requests[:150]).json() + client.post("/predict", json=requests[150:]).json()
    assert [a["label"] for a in answers] == scored["label"].tolist()
    classes = sorted(answers[0]["probabilities"])
    served = [[a["probabilities"][c] for c in classes] for a in answers]
    assert served == scored[[f"probability_{c}" for c in classes]].to_numpy().tolist()
    assert {a["model_version"] for a in answers} == {"1"}
