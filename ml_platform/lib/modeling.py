"""The model: one scikit-learn Pipeline holds the fitted preprocessing and the estimator.

Training and serving share this one object, so the fitted statistics (scaling, one-hot) cannot differ
between them; the stateless derived features come before it, from `ml_platform.lib.features`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from ml_platform.lib.features import model_spec
from ml_platform.lib.spec import DatasetSpec

ESTIMATORS = {"logistic_regression": LogisticRegression, "random_forest": RandomForestClassifier}

SCORERS = {"accuracy": "accuracy", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted",
           "roc_auc": "roc_auc_ovr"}


def build_pipeline(spec: DatasetSpec, estimator: str, params: dict[str, Any], seed: int) -> Pipeline:
    """Impute and scale numbers, one-hot encode categories (unknown ones ignored), then classify.

    The columns are the model's inputs: the raw numbers and categories plus the derived features,
    which the `features` asset (and the service, per request) computed before the pipeline sees a row."""
    spec = model_spec(spec)
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = Pipeline([
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="ignore")),
    ])
    features = ColumnTransformer([
        ("numeric", numeric, spec.numeric_features),
        ("categorical", categorical, spec.categorical_features),
    ])
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; available: {sorted(ESTIMATORS)}")
    extra = {"max_iter": 2000} if estimator == "logistic_regression" else {"n_jobs": 1}
    model = ESTIMATORS[estimator](random_state=seed, **extra, **params)
    return Pipeline([("features", features), ("classifier", model)])


@dataclass(frozen=True)
class Candidate:
    estimator: str
    params: dict[str, Any]
    cv_score: float
    cv_std: float


def candidates(search_space: dict[str, dict[str, list[Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every combination of every estimator's grid."""
    for estimator, grid in search_space.items():
        keys = sorted(grid)
        for values in product(*(grid[k] for k in keys)):
            yield estimator, dict(zip(keys, values))


def cross_validate(spec: DatasetSpec, estimator: str, params: dict[str, Any], x: pd.DataFrame,
                   y: pd.Series) -> Candidate:
    folds = StratifiedKFold(spec.training.cv_folds, shuffle=True, random_state=spec.training.seed)
    pipeline = build_pipeline(spec, estimator, params, spec.training.seed)
    scores = cross_val_score(pipeline, x, y, cv=folds, scoring=SCORERS[spec.thresholds.metric], n_jobs=1)
    return Candidate(estimator, params, float(np.mean(scores)), float(np.std(scores)))
