from typing import Any

import dagster as dg


class TrainingConfig(dg.Config):
    """The hyperparameter search: every combination of each chosen estimator's grid is cross-validated."""

    estimators: list[str] = ["logistic_regression", "random_forest", "hist_gradient_boosting"]
    logistic_c: list[float] = [0.1, 1.0, 10.0]
    forest_n_estimators: list[int] = [100]
    forest_max_depth: list[int] = [8, 16]
    forest_min_samples_leaf: list[int] = [2]
    # Gradient boosting stops early on a seeded validation split, so max_iter is a cap, not the count.
    hgb_learning_rate: list[float] = [0.1]
    hgb_max_leaf_nodes: list[int] = [31]
    hgb_max_iter: list[int] = [200]

    # Successive halving: every candidate on 1/factor**k of the rows, the best 1/factor on factor times
    # more, until the last rung is every training row (1: every candidate on every row).
    halving_factor: int = 3
    min_rung_rows: int = 20_000  # no screening sample smaller: a ranking on fewer rows is mostly noise

    def search_space(self) -> dict[str, dict[str, list[Any]]]:
        grids = {
            "logistic_regression": {"C": self.logistic_c},
            "random_forest": {"n_estimators": self.forest_n_estimators, "max_depth": self.forest_max_depth,
                              "min_samples_leaf": self.forest_min_samples_leaf},
            "hist_gradient_boosting": {"learning_rate": self.hgb_learning_rate,
                                       "max_leaf_nodes": self.hgb_max_leaf_nodes, "max_iter": self.hgb_max_iter},
        }
        unknown = set(self.estimators) - set(grids)
        if unknown:
            raise ValueError(f"unknown estimators {sorted(unknown)}; choose from {sorted(grids)}")
        return {name: grids[name] for name in self.estimators}
