"""MLflow's own clients load the champion and answer what the service answers, from skops files."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from ml_platform.lib import model_store
from ml_platform.lib.compiled_pipeline import probe_rows
from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
from ml_platform.lib.model_format import sha256
from ml_platform.lib.registry import MODEL_SHA256_TAG
from ml_platform.lib.served_model import from_store
from ml_platform_tests.models.conftest import logged_file, stored_file

RECORD = {"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}
README_RECORD = {"age": 30, "gender": "Female", "income": 60000, "occupation": "Engineer", "spending_score": 70}


def test_mlflow_pyfunc_takes_an_api_record_and_answers_what_the_service_answers(platform, tracking, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")  # as make and deploy/ set it: skops only
    spec = platform.spec
    pyfunc = mlflow.pyfunc.load_model(f"models:/{spec.name}@champion")
    inputs = {c.name: (c.to_dict()["type"], c.required) for c in pyfunc.metadata.get_input_schema().inputs}
    assert inputs == {"age": ("long", True), "gender": ("string", True), "income": ("any", True),
                      "occupation": ("string", True), "spending_score": ("long", True)}
    answer = pyfunc.predict(pd.DataFrame([RECORD]))  # age is an int64 column, as the API takes it
    # The README's record: an integer income is an int64 column, which MLflow's `double` would refuse.
    assert pyfunc.predict(pd.DataFrame([README_RECORD]))["label"].tolist() == pyfunc.predict(
        pd.DataFrame([{**README_RECORD, "income": 60000.0}]))["label"].tolist()
    with pytest.raises(Exception, match="income: expected a number, got 'a lot'"):
        pyfunc.predict(pd.DataFrame([{**README_RECORD, "income": "a lot"}]))
    served = from_store(model_store.find(platform.bentoml_home, model_store.tag_for(spec.name, "1")))
    [(label, probabilities)] = served.predict(add_features_to_rows(spec, [RECORD]))  # as the service calls it
    assert list(answer.columns) == ["label", *(f"probability_{c}" for c in served.classes)]
    assert answer["label"].tolist() == [label]
    assert answer.drop(columns="label").iloc[0].tolist() == pytest.approx(
        [probabilities[c] for c in served.classes], abs=1e-6)  # the service rounds to 6 places
    # MLflow's sklearn loader refuses even a skops file then: its allow-list is read from the file itself.
    with pytest.raises(mlflow.exceptions.MlflowException, match="MLFLOW_ALLOW_PICKLE_DESERIALIZATION"):
        mlflow.sklearn.load_model(f"models:/{spec.name}@champion")
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")  # a user's deliberate choice, as the README says
    sklearn_flavor = mlflow.sklearn.load_model(f"models:/{spec.name}@champion")
    # the bare pipeline takes the model's inputs: the derived features are computed before it
    assert sklearn_flavor.predict(add_features(spec, pd.DataFrame([RECORD]))).tolist() == [label]


def test_both_copies_are_skops_files_with_recorded_checksums_and_the_same_answers(platform):
    registry, spec = platform.registry, platform.spec
    logged = logged_file(platform, "1")
    assert registry.version_tags("1")[MODEL_SHA256_TAG] == sha256(logged.read_bytes())
    assert not [p.name for p in logged.parent.iterdir() if p.suffix in (".pkl", ".pickle", ".joblib")]
    stored = model_store.find(platform.bentoml_home, model_store.tag_for(spec.name, "1"))
    assert stored.info.metadata["sha256"] == sha256(stored_file(platform, "1").read_bytes())
    inputs = model_spec(spec)
    rows = pd.DataFrame(probe_rows(inputs), columns=inputs.feature_names)
    assert np.array_equal(from_store(stored).model.predict_proba(rows),
                          registry.load_model("1").predict_proba(rows))
