from typing import Any

import dagster as dg


class TrainingConfig(dg.Config):
    """The hyperparameter search: every combination of each chosen estimator's grid is cross-validated."""

    estimators: list[str] = ["logistic_regression", "random_forest"]
    logistic_c: list[float] = [0.1, 1.0, 10.0]
    forest_n_estimators: list[int] = [100]
    forest_max_depth: list[int] = [8, 16]
    forest_min_samples_leaf: list[int] = [2]

    def search_space(self) -> dict[str, dict[str, list[Any]]]:
        grids = {
            "logistic_regression": {"C": self.logistic_c},
            "random_forest": {"n_estimators": self.forest_n_estimators, "max_depth": self.forest_max_depth,
                              "min_samples_leaf": self.forest_min_samples_leaf},
        }
        unknown = set(self.estimators) - set(grids)
        if unknown:
            raise ValueError(f"unknown estimators {sorted(unknown)}; choose from {sorted(grids)}")
        return {name: grids[name] for name in self.estimators}
