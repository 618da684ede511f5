"""The model: one scikit-learn Pipeline holds the fitted preprocessing and the estimator.

Training and serving share this one object, so the fitted statistics (scaling, one-hot) cannot differ
between them; the stateless derived features come before it, from `ml_platform.lib.features`.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import product
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ml_platform.lib.features import model_spec
from ml_platform.lib.spec import DatasetSpec

ESTIMATORS = {"logistic_regression": LogisticRegression, "random_forest": RandomForestClassifier,
              "hist_gradient_boosting": HistGradientBoostingClassifier}
# HGB bins a categorical column into at most max_bins (255) categories; a wider one is fed as its ordinal code.
HGB_MAX_CATEGORIES = 255

SCORERS = {"accuracy": "accuracy", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted",
           "roc_auc": "roc_auc_ovr"}


def build_pipeline(spec: DatasetSpec, estimator: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Impute and scale numbers, one-hot encode categories (unknown ones ignored), then classify; gradient
    boosting takes numbers and category codes as they are (`_hist_gradient_boosting`).

    The columns are the model's inputs: the raw numbers and categories plus the derived features,
    which the `features` asset (and the service, per request) computed before the pipeline sees a row."""
    spec = model_spec(spec)
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; available: {sorted(ESTIMATORS)}")
    if estimator == "hist_gradient_boosting":
        return _hist_gradient_boosting(spec, params, seed)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="ignore")),
    ])
    features = ColumnTransformer([
        ("numeric", numeric, spec.numeric_features),
        ("categorical", categorical, spec.categorical_features),
    ])
    extra = {"max_iter": 2000} if estimator == "logistic_regression" else {"n_jobs": 1}
    model = ESTIMATORS[estimator](random_state=seed, **extra, **params)
    return Pipeline([("features", features), ("classifier", model)])


def _hist_gradient_boosting(spec: DatasetSpec, params: dict[str, Any], seed: int) -> Pipeline:
    """Numbers as they are (HGB bins them and learns where a NaN goes), categories as ordinal codes that
    HGB splits on natively; a missing or never-seen category is NaN, so it predicts as missing does.

    The ColumnTransformer puts the numbers first, so the categories' positions are known. Early stopping
    is always on (10% seeded, stratified validation split): fit time on millions of rows is bounded by
    the data rather than `max_iter`, and a model does not change character at sklearn's 10,000-row
    "auto" threshold. Prediction uses OpenMP threads; the service limits them (`served_model.py`)."""
    numeric, categorical = spec.numeric_features, spec.categorical_features
    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                            encoded_missing_value=np.nan)
    features = ColumnTransformer([("numeric", "passthrough", numeric), ("categorical", encode, categorical)])
    native = [len(f.categories) <= HGB_MAX_CATEGORIES for f in spec.features if f.type == "categorical"]
    mask = [False] * len(numeric) + native
    model = HistGradientBoostingClassifier(categorical_features=mask if any(mask) else None,
                                           early_stopping=True, random_state=seed, **params)
    return Pipeline([("features", features), ("classifier", model)])


def candidates(search_space: dict[str, dict[str, list[Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every combination of every estimator's grid."""
    for estimator, grid in search_space.items():
        keys = sorted(grid)
        for values in product(*(grid[k] for k in keys)):
            yield estimator, dict(zip(keys, values))
