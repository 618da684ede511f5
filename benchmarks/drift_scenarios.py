"""The data of the drift benchmark: the spec both detectors read, the seeded shifts, the wide table.

Every frame carries `claims`, a heavy-tailed integer column (Pareto, shape 1.5: infinite variance) that
never shifts, so every scenario also asks whether a column like that raises false alarms.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ml_platform.lib.generator import Knobs, customer_segmentation
from ml_platform.lib.spec import DatasetSpec, load_spec

SPEC_PATH = Path(__file__).resolve().parent.parent / "datasets" / "customer_segmentation.yaml"
SPENDING_SD = 22.0


def bench_spec(min_effect: float | None = None) -> DatasetSpec:
    """The shipped spec's raw features, `income` nullable (so a missing-rate shift reaches the detector),
    plus `claims`; derived features left out so both detectors see the same columns."""
    raw = load_spec(SPEC_PATH).model_dump(exclude_unset=True)
    for feature in raw["features"]:
        feature["nullable"] = feature["name"] == "income"
    raw["features"].append({"name": "claims", "type": "numeric", "min": 0, "integer": True})
    raw["derived"] = []
    if min_effect is not None:
        raw["thresholds"]["drift_min_effect"] = min_effect
    return DatasetSpec.model_validate(raw)


def frame(rows: int, seed: int, knobs: Knobs | None = None) -> pd.DataFrame:
    data = customer_segmentation(rows, seed, knobs)
    data["claims"] = np.floor(np.random.default_rng(seed + 7_919).pareto(1.5, rows) * 3)
    return data


def _scaled(data: pd.DataFrame, factor: float) -> pd.DataFrame:
    data["spending_score"] = (50 + factor * (data["spending_score"] - 50)).clip(1, 100).round()
    return data


def _reweighted(data: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    weights = np.where(data["occupation"].isin(["Student", "Retired"]), 1.75, 1.0)
    return data.sample(n, weights=weights, random_state=seed).reset_index(drop=True)


def _missing(data: pd.DataFrame, seed: int) -> pd.DataFrame:
    data["income"] = data["income"].mask(np.random.default_rng(seed).random(len(data)) < 0.10)
    return data


def _sub_population(data: pd.DataFrame, seed: int, share: float, sds: float) -> pd.DataFrame:
    """`share` of the rows, drawn at random, get `sds` standard deviations more spending score."""
    moved = np.random.default_rng(seed + 104_729).random(len(data)) < share
    shifted = (data["spending_score"] + sds * SPENDING_SD).clip(1, 100)
    data["spending_score"] = np.where(moved, shifted, data["spending_score"])
    return data


def _mean(sds: float) -> Callable[[int, int], pd.DataFrame]:
    return lambda n, s: frame(n, s, Knobs(mean_shift={"spending_score": sds}))


def _sub(share: float, sds: float) -> Callable[[int, int], pd.DataFrame]:
    return lambda n, s: _sub_population(frame(n, s), s, share, sds)


Scenario = Callable[[int, int], pd.DataFrame]
# name -> (batch maker, the column that should be flagged; None: no column in particular)
SCENARIOS: dict[str, tuple[Scenario, str | None]] = {
    "no shift (any column)": (frame, None),
    "no shift: heavy-tailed integer `claims`": (lambda n, s: frame(n, 50_000 + s), "claims"),
    "mean shift 0.1 sd": (_mean(0.1), "spending_score"),
    "variance x1.25": (lambda n, s: _scaled(frame(n, s), 1.25), "spending_score"),
    "sub-population 5% by 1 sd": (_sub(0.05, 1), "spending_score"),
    "sub-population 5% by 2 sd": (_sub(0.05, 2), "spending_score"),
    "sub-population 10% by 1 sd": (_sub(0.10, 1), "spending_score"),
    "sub-population 10% by 2 sd": (_sub(0.10, 2), "spending_score"),
    "category frequency": (lambda n, s: _reweighted(frame(2 * n, s), n, s), "occupation"),
    "missing rate 0 -> 10%": (lambda n, s: _missing(frame(n, s), s), "income"),
    "label prior": (lambda n, s: frame(n, s, Knobs(class_balance={"luxury": 2.5, "budget": 0.5})), None),
}
NO_SHIFT = ("no shift (any column)", "no shift: heavy-tailed integer `claims`")


def wide_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """The benchmark's six columns plus six more (12): `income` and `x0` shifted by `shift` SDs."""
    rng = np.random.default_rng(seed)
    data = frame(rows, seed, Knobs(mean_shift={"income": shift}))
    for i in range(4):
        data[f"x{i}"] = rng.normal(0, 1, rows) + (shift if i == 0 else 0.0)
    for i in range(2):
        data[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], rows)
    return data


def wide_spec(spec: DatasetSpec) -> DatasetSpec:
    raw = spec.model_dump(exclude_unset=True)
    raw["features"] += [{"name": f"x{i}", "type": "numeric"} for i in range(4)]
    raw["features"] += [{"name": f"c{i}", "type": "categorical", "categories": list("abcde")} for i in range(2)]
    return DatasetSpec.model_validate(raw)
