"""The service's numpy fast path answers exactly as the fitted pipeline does, or is not used."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from ml_platform.lib.compiled_pipeline import CompiledPipeline, compile_pipeline, probe_rows
from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.served_model import ServedModel
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)
INPUTS = model_spec(SPEC)  # the pipeline's inputs: the raw fields and the derived features


def fitted(estimator: str, params: dict) -> Pipeline:
    """Fitted as training fits it: on the raw fields plus the spec's derived features."""
    frame = add_features(SPEC, customer_segmentation(1500, seed=3))
    return build_pipeline(SPEC, estimator, params, seed=1).fit(frame[INPUTS.feature_names], frame[SPEC.target.name])


def unseen_rows() -> list[dict]:
    """Rows the pipeline was not fitted on, a few with categories it has never seen, with their features."""
    rows = json.loads(customer_segmentation(300, seed=99)[SPEC.feature_names].to_json(orient="records"))
    for row in rows[::25]:
        row["occupation"] = "Astronaut"
    return add_features_to_rows(SPEC, rows)


@pytest.mark.parametrize("estimator, params", [("logistic_regression", {"C": 0.5}),
                                               ("random_forest", {"n_estimators": 20, "max_depth": 6})])
def test_compiled_form_reproduces_the_pipeline_on_rows_it_was_not_checked_on(estimator, params):
    pipeline = fitted(estimator, params)
    compiled = compile_pipeline(pipeline, probe_rows(INPUTS))
    assert compiled is not None
    rows = unseen_rows()
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=INPUTS.feature_names))
    np.testing.assert_allclose(compiled.predict_proba(rows), expected, rtol=0, atol=1e-12)


class DoublingScaler(StandardScaler):
    """Looks like the scaler the compiled form reads, but transforms differently."""

    def transform(self, X, copy=None):
        return 2 * super().transform(X, copy=copy)


def replaced_step(pipeline: Pipeline, transformer: str, step: str, replacement) -> Pipeline:
    steps = pipeline.named_steps["features"].named_transformers_[transformer].steps
    index = [name for name, _ in steps].index(step)
    replacement.__dict__.update({k: v for k, v in steps[index][1].__dict__.items() if k.endswith("_")})
    steps[index] = (step, replacement)
    return pipeline


def test_a_pipeline_of_another_shape_is_served_as_it_is():
    fit = lambda: fitted("logistic_regression", {})  # noqa: E731
    assert compile_pipeline(Pipeline([("log", FunctionTransformer(lambda x: x)), *fit().steps]), probe_rows(INPUTS)) is None
    assert compile_pipeline(object(), probe_rows(INPUTS)) is None
    assert compile_pipeline(replaced_step(fit(), "numeric", "scale", DoublingScaler()), probe_rows(INPUTS)) is None
    sentinel = replaced_step(fit(), "numeric", "impute", SimpleImputer(missing_values=-1, strategy="median"))
    assert compile_pipeline(sentinel, probe_rows(INPUTS)) is None
    rare_grouped = replaced_step(fit(), "categorical", "encode", OneHotEncoder(handle_unknown="ignore",
                                                                               min_frequency=5))
    assert compile_pipeline(rare_grouped, probe_rows(INPUTS)) is None


def test_a_compiled_form_that_would_answer_differently_is_refused(monkeypatch):
    pipeline = fitted("logistic_regression", {})
    assert compile_pipeline(pipeline, probe_rows(INPUTS)) is not None
    transform = CompiledPipeline.transform
    monkeypatch.setattr(CompiledPipeline, "transform", lambda self, rows: transform(self, rows) + 1e-3)
    assert compile_pipeline(pipeline, probe_rows(INPUTS)) is None


def test_rows_with_nulls_go_through_the_pipeline():
    pipeline = fitted("logistic_regression", {})
    served = ServedModel(pipeline, "1", "d", SPEC, source="test")
    assert served.compiled is not None
    rows = unseen_rows()[:3]
    rows[1] = {**rows[1], "income": None}
    expected = pipeline.predict_proba(pd.DataFrame(rows, columns=INPUTS.feature_names))
    answers = served.predict(rows)
    assert [max(p, key=p.get) for _, p in answers] == [pipeline.classes_[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([list(p.values()) for _, p in answers], expected.round(6), atol=1e-6)
