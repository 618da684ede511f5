"""A user's own files and one YAML spec run the whole platform without code changes, and its Bento serves."""

import os

import httpx
import pandas as pd
import yaml
from sklearn.datasets import load_breast_cancer

from benchmarks import service_process
from ml_platform.lib.champion_bento import champion_bento
from ml_platform.lib.model_store import find, load_verified
from ml_platform.quickstart import run_platform


def write_breast_cancer_dataset(root):
    """scikit-learn's bundled breast-cancer data (binary, numeric) as two CSV batches and a spec."""
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = frame.pop("target").map(dict(enumerate(data.target_names)))
    landing = root / "landing"
    landing.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_csv(landing / "2026-01-part1.csv", index=False)
    frame.iloc[half:].to_csv(landing / "2026-02-part2.csv", index=False)
    features = [{"name": c, "type": "numeric", "min": 0.0, "max": float(frame[c].max() * 3)}
                for c in frame.columns if c != "diagnosis"]
    spec = {
        "name": "breast-cancer",
        "target": {"name": "diagnosis", "classes": [str(c) for c in data.target_names]},
        "features": features,
        "source": {"kind": "folder", "path": "landing", "pattern": "*.csv"},
        "thresholds": {"metric": "roc_auc", "min_metric": 0.9},
    }
    path = root / "breast_cancer.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, frame


def test_binary_numeric_dataset_from_csv_files_runs_end_to_end(make_platform, tmp_path):
    spec_path, frame = write_breast_cancer_dataset(tmp_path)
    platform = make_platform(spec_path)
    assert run_platform(platform.defs, platform.instance) == []
    assert sorted(platform.instance.get_dynamic_partitions("batches")) == ["2026-01-part1.csv",
                                                                          "2026-02-part2.csv"]
    assert platform.registry.champion_version() == "1"
    stored = find(platform.bentoml_home, "breast-cancer:v1")
    assert stored.info.metadata["metrics"]["roc_auc"] > 0.9
    model = load_verified(stored.path, stored.info.metadata["sha256"])
    predicted = model.predict(frame.drop(columns="diagnosis").head(50))
    assert set(predicted) <= {"malignant", "benign"}
    assert (pd.Series(predicted) == frame["diagnosis"].head(50).to_numpy()).mean() > 0.85


    # `make serve`: the Bento of this dataset's champion, with no ML_PLATFORM_MODEL_TAG: it knows its model.
    bento = champion_bento(platform.registry, platform.bentoml_home)
    env = {**{k: v for k, v in os.environ.items() if k != "ML_PLATFORM_MODEL_TAG"},
           "BENTOML_HOME": platform.bentoml_home, "MLFLOW_TRACKING_URI": platform.registry.tracking_uri,
           "ML_PLATFORM_INFERENCE_LOG_DIR": str(tmp_path / "inference_log")}
    process, port = service_process.serve(str(bento.tag), env, output=tmp_path / "serve.log")
    try:
        record = frame.drop(columns="diagnosis").iloc[0].to_dict()
        answer = httpx.post(f"http://{service_process.HOST}:{port}/predict", json=record, timeout=30)
        assert answer.status_code == 200, answer.text
        [prediction] = answer.json()
        assert prediction["model_version"] == "1" and prediction["label"] in {"malignant", "benign"}
    finally:
        service_process.stop(process)
