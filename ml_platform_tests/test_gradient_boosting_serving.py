"""Gradient boosting answers as its pipeline: complete rows through the compiled forest
(`compiled_forest.py`), a row with a null through the pipeline itself, which predicts with one OpenMP
thread on whichever thread calls, the thread's own setting restored after."""

from __future__ import annotations

import contextlib
import copy
import json
import threading

import numpy as np
import pandas as pd
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.served_model import ServedModel
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)
INPUTS = model_spec(SPEC)


def fitted(estimator: str, params: dict):
    frame = add_features(SPEC, customer_segmentation(1500, seed=3))
    return build_pipeline(SPEC, estimator, params, seed=1).fit(frame[INPUTS.feature_names], frame[SPEC.target.name])


def test_gradient_boosting_answers_as_its_pipeline_including_unknown_categories_and_nulls():
    pipeline = fitted("hist_gradient_boosting", {"max_iter": 30})
    served = ServedModel(pipeline, "1", "d", SPEC, source="test")
    assert served.compiled is not None
    raw = json.loads(customer_segmentation(200, seed=99)[SPEC.feature_names].to_json(orient="records"))
    raw[0]["occupation"], raw[1]["occupation"], raw[2]["income"] = "Astronaut", None, None
    rows = add_features_to_rows(SPEC, raw)
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=INPUTS.feature_names))
    answers = served.predict(rows)
    got = np.array([[probabilities[c] for c in served.classes] for _, probabilities in answers])
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-7)  # answers are rounded to 6 places
    assert [label for label, _ in answers] == list(pipeline.classes_[expected.argmax(axis=1)])


def test_gradient_boosting_predicts_with_one_openmp_thread_on_the_calling_thread_only():
    served = ServedModel(copy.deepcopy(fitted("hist_gradient_boosting", {"max_iter": 5})), "1", "d", SPEC, source="t")
    classifier, seen = served.model.steps[-1][1], []
    predict_proba = classifier.predict_proba

    def recording(x):
        seen.append(_openmp_effective_n_threads())
        return predict_proba(x)

    classifier.predict_proba = recording
    rows = add_features_to_rows(SPEC, json.loads(customer_segmentation(3, seed=5)[SPEC.feature_names].to_json(
        orient="records")))
    rows[0]["income"] = None  # a null: the batch goes through the pipeline, in an OpenMP team
    before = _openmp_effective_n_threads()
    elsewhere = threading.Thread(target=served.predict, args=(rows,))  # not the thread that loaded the model
    elsewhere.start()
    elsewhere.join()
    served.predict(rows)
    assert seen == [1, 1] and _openmp_effective_n_threads() == before


def test_a_forest_is_served_without_an_openmp_limit():
    served = ServedModel(fitted("random_forest", {"n_estimators": 5}), "1", "d", SPEC, source="test")
    assert served.compiled is not None and served.threads is contextlib.nullcontext
