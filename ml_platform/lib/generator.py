"""Seeded data for the default dataset, with knobs for drift and corruption.

Every path of the platform (quarantine, drift, retraining) must be exercisable offline, so the data it
needs is made here rather than downloaded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

GENDERS = ["Female", "Male", "Non-binary"]
OCCUPATIONS = ["Engineer", "Teacher", "Artist", "Doctor", "Sales", "Student", "Retired", "Other"]
SEGMENTS = ["budget", "standard", "premium", "luxury"]
CORRUPTIONS = ["null", "out_of_range", "unknown_category", "wrong_type"]


class Knobs(BaseModel):
    """How a batch departs from the training distribution.

    `mean_shift` moves a numeric feature by that many of its standard deviations; `class_balance`
    reweights segments by resampling; `label_function` "v2" changes how features map to the label
    (concept drift); `corrupt_share` of the rows get one corruption each, of the kinds listed.
    """

    model_config = ConfigDict(extra="forbid")

    mean_shift: dict[str, float] = Field(default_factory=dict)
    class_balance: dict[str, float] = Field(default_factory=dict)
    label_function: str = "v1"
    corrupt_share: float = Field(default=0.0, ge=0, le=1)
    corruptions: list[str] = Field(default_factory=lambda: list(CORRUPTIONS))


_SD = {"age": 14.0, "income": 30000.0, "spending_score": 22.0}


def customer_segmentation(rows: int, seed: int, knobs: Knobs | None = None) -> pd.DataFrame:
    """Customers with age, gender, income, occupation and spending score, labelled with a segment."""
    knobs = knobs or Knobs()
    rng = np.random.default_rng(seed)
    oversample = 3 if knobs.class_balance else 1
    n = rows * oversample
    occupation = rng.choice(OCCUPATIONS, size=n, p=[0.16, 0.14, 0.08, 0.08, 0.16, 0.14, 0.12, 0.12])
    age = rng.normal(42, _SD["age"], n)
    age = np.where(occupation == "Student", rng.normal(22, 3, n), age)
    age = np.where(occupation == "Retired", rng.normal(70, 5, n), age)
    pay = {"Engineer": 1.5, "Doctor": 2.2, "Teacher": 0.9, "Artist": 0.7, "Sales": 1.0,
           "Student": 0.35, "Retired": 0.6, "Other": 0.8}
    income = 52000 * np.vectorize(pay.get)(occupation) * rng.lognormal(0, 0.25, n)
    spending = rng.normal(50, _SD["spending_score"], n)
    df = pd.DataFrame({
        "age": age + knobs.mean_shift.get("age", 0) * _SD["age"],
        "gender": rng.choice(GENDERS, size=n, p=[0.49, 0.48, 0.03]),
        "income": income + knobs.mean_shift.get("income", 0) * _SD["income"],
        "occupation": occupation,
        "spending_score": spending + knobs.mean_shift.get("spending_score", 0) * _SD["spending_score"],
    })
    df["age"] = df["age"].clip(18, 90).round().astype(int)
    df["income"] = df["income"].clip(5000, 400000).round(2)
    df["spending_score"] = df["spending_score"].clip(1, 100).round().astype(int)
    df["segment"] = _label(df, rng, knobs.label_function)
    if knobs.class_balance:
        weights = df["segment"].map(lambda s: knobs.class_balance.get(s, 1.0)).to_numpy(float)
        keep = rng.choice(n, size=rows, replace=False, p=weights / weights.sum())
        df = df.iloc[np.sort(keep)]
    df = df.iloc[:rows].reset_index(drop=True)
    return corrupt(df, knobs.corrupt_share, knobs.corruptions, rng)


def _label(df: pd.DataFrame, rng: np.random.Generator, label_function: str) -> np.ndarray:
    """A noisy score of wealth and appetite, cut into four segments."""
    income_z = (np.log(df["income"]) - np.log(52000)) / 0.5
    spend_z = (df["spending_score"] - 50) / 22
    age_z = (df["age"] - 42) / 14
    if label_function == "v2":
        score = 0.4 * income_z + 1.2 * spend_z + 0.3 * age_z
    else:
        score = 1.0 * income_z + 0.8 * spend_z - 0.2 * age_z
    score = score + rng.normal(0, 0.35, len(df))
    return np.array(SEGMENTS)[np.digitize(score, [-0.9, 0.1, 1.0])]


def corrupt(df: pd.DataFrame, share: float, kinds: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Give `share` of the rows one corruption each, so every rejection reason occurs."""
    unknown = set(kinds) - set(CORRUPTIONS)
    if unknown:
        raise ValueError(f"unknown corruption kinds {sorted(unknown)}; choose from {CORRUPTIONS}")
    count = int(round(share * len(df)))
    if count == 0 or not kinds:
        return df
    df = df.astype(object)
    rows = rng.choice(len(df), size=count, replace=False)
    for i, row in enumerate(rows):
        kind = kinds[i % len(kinds)]
        if kind == "null":
            df.iat[row, df.columns.get_loc(rng.choice(["age", "gender", "income"]))] = None
        elif kind == "out_of_range":
            df.iat[row, df.columns.get_loc("age")] = int(rng.choice([-5, 150]))
        elif kind == "unknown_category":
            df.iat[row, df.columns.get_loc("occupation")] = "Astronaut"
        else:
            df.iat[row, df.columns.get_loc("income")] = "about 40k"
    return df


IRIS_FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def iris(rows: int, seed: int, knobs: Knobs | None = None) -> pd.DataFrame:
    """The Kubeflow tutorial's dataset: scikit-learn's own copy of Fisher's 150 irises (no download),
    resampled with a 0.1 cm measurement jitter so a batch of any size keeps the species' shapes."""
    from sklearn.datasets import load_iris

    knobs, data = knobs or Knobs(), load_iris()
    rng = np.random.default_rng(seed)
    species = np.array(data.target_names)[data.target]
    weights = np.array([knobs.class_balance.get(s, 1.0) for s in species], dtype=float)
    picks = rng.choice(len(species), size=rows, p=weights / weights.sum())
    measured = data.data[picks] + rng.normal(0, 0.1, (rows, len(IRIS_FEATURES)))
    measured += np.array([knobs.mean_shift.get(c, 0.0) for c in IRIS_FEATURES]) * data.data.std(axis=0)
    df = pd.DataFrame(measured.clip(0.1).round(2), columns=IRIS_FEATURES)
    df["species"] = species[picks]
    return corrupt_numbers(df, knobs.corrupt_share, [k for k in knobs.corruptions if k != "unknown_category"], rng)


def corrupt_numbers(df: pd.DataFrame, share: float, kinds: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """`corrupt` for a table of numbers only: a missing, negative or non-numeric measurement."""
    count = int(round(share * len(df)))
    if count == 0 or not kinds:
        return df
    df, numeric = df.astype(object), [c for c in df.columns[:-1]]
    for i, row in enumerate(rng.choice(len(df), size=count, replace=False)):
        column, kind = df.columns.get_loc(rng.choice(numeric)), kinds[i % len(kinds)]
        df.iat[row, column] = {"null": None, "out_of_range": -1.0}.get(kind, "about 5")
    return df


GENERATORS = {"customer_segmentation": customer_segmentation, "iris": iris}


def generate(name: str, rows: int, seed: int, knobs: Knobs | None = None) -> pd.DataFrame:
    if name not in GENERATORS:
        raise ValueError(f"unknown generator {name!r}; available: {sorted(GENERATORS)}")
    return GENERATORS[name](rows, seed, knobs)
