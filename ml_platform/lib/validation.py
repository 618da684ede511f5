"""Row-level validation: a pandera schema derived from the spec, and a split into valid and rejected rows.

Raw batches are kept as text so that a bad value reaches quarantine verbatim; typing happens here,
where a value that cannot be typed becomes a reason rather than a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ml_platform.lib.spec import CategoricalFeature, DatasetSpec, NumericFeature

REASON = "rejection_reason"


class BatchError(ValueError):
    """The batch as a whole cannot be used (e.g. a required column is missing)."""


def build_schema(spec: DatasetSpec) -> pa.DataFrameSchema:
    """The pandera schema for typed rows: ranges, categories, nullability and the target's classes."""
    columns: dict[str, pa.Column] = {}
    for feature in spec.features:
        if isinstance(feature, NumericFeature):
            checks = []
            if feature.min is not None:
                checks.append(pa.Check.ge(feature.min))
            if feature.max is not None:
                checks.append(pa.Check.le(feature.max))
            if feature.integer:
                checks.append(pa.Check(lambda s: s.isna() | (s == np.floor(s)), name="not_integer"))
            columns[feature.name] = pa.Column(float, checks, nullable=feature.nullable)
        elif isinstance(feature, CategoricalFeature):
            check = pa.Check.isin(feature.categories)
            columns[feature.name] = pa.Column(str, check, nullable=feature.nullable)
        else:
            columns[feature.name] = pa.Column(pd.DatetimeTZDtype(tz="UTC"), nullable=feature.nullable)
    target_check = pa.Check(lambda s: s.isin(spec.target.classes), name="unknown_class")
    columns[spec.target.name] = pa.Column(str, target_check, nullable=False)
    return pa.DataFrameSchema(columns, strict="filter", name=spec.name)


@dataclass(frozen=True)
class Split:
    valid: pd.DataFrame
    rejected: pd.DataFrame
    extra_columns: list[str]

    def reason_counts(self) -> dict[str, int]:
        if self.rejected.empty:
            return {}
        reasons = self.rejected[REASON].str.split("; ").explode()
        return reasons.value_counts().sort_index().to_dict()


def split_valid_rejected(raw: pd.DataFrame, spec: DatasetSpec) -> Split:
    """Type the raw batch, validate it lazily, and keep every bad row with the checks it failed."""
    missing = [c for c in spec.columns if c not in raw.columns]
    if missing:
        raise BatchError(f"missing required column(s) {missing}; the spec expects {spec.columns}")
    extra = [c for c in raw.columns if c not in spec.columns]
    raw = raw[spec.columns]  # a new frame: renumbering it leaves the caller's alone
    raw.index = pd.RangeIndex(len(raw))
    typed, reasons = _coerce(raw, spec)
    try:
        build_schema(spec).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for case in exc.failure_cases.dropna(subset=["index"]).itertuples():
            row = int(case.index)
            if case.check == "not_nullable" and f"{case.column}: wrong_type" in reasons.get(row, ()):
                continue  # the value was there but not a number: already explained
            reasons.setdefault(row, []).append(f"{case.column}: {_label(str(case.check))}")
    for i in np.flatnonzero(raw.duplicated(keep="first").to_numpy()):
        reasons.setdefault(int(i), []).append("duplicate_row")
    bad = np.zeros(len(raw), dtype=bool)
    bad[np.fromiter(reasons, dtype=np.int64, count=len(reasons))] = True
    rejected = raw[bad].copy()
    rejected[REASON] = ["; ".join(dict.fromkeys(reasons[i])) for i in np.flatnonzero(bad)]
    valid = typed[~bad].astype({f: float for f in spec.numeric_features})
    return Split(valid=valid.reset_index(drop=True), rejected=rejected.reset_index(drop=True),
                 extra_columns=extra)


_LABELS = {
    "not_nullable": "null",
    "greater_than_or_equal_to": "out_of_range",
    "less_than_or_equal_to": "out_of_range",
    "isin": "unknown_category",
}


def _label(check: str) -> str:
    """pandera names a built-in check by its call (`isin([...])`); a reason wants a short stable word."""
    return _LABELS.get(check.split("(")[0], check)


def _coerce(raw: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[int, list[str]]]:
    """Numbers to float and labels to str; a present value that is not a number is a 'wrong_type'.

    Reasons are kept only for rows that have one (a few percent), keyed by row number, so a clean
    million-row batch allocates no per-row Python objects.
    """
    reasons: dict[int, list[str]] = {}
    typed = raw.copy()
    for name in spec.numeric_features:
        numbers = pd.to_numeric(raw[name], errors="coerce").astype(float)
        not_finite = ~np.isfinite(numbers.to_numpy()) & numbers.notna().to_numpy()
        numbers[not_finite] = np.nan
        wrong = (numbers.isna() & raw[name].notna()).to_numpy()
        for i in np.flatnonzero(wrong):
            reasons.setdefault(int(i), []).append(f"{name}: wrong_type")
        typed[name] = numbers
    for name in spec.timestamp_features:
        stamps = pd.to_datetime(raw[name], utc=True, errors="coerce", format="mixed")
        for i in np.flatnonzero((stamps.isna() & raw[name].notna()).to_numpy()):
            reasons.setdefault(int(i), []).append(f"{name}: wrong_type")
        typed[name] = stamps
    for name in [*spec.categorical_features, spec.target.name]:
        present = raw[name].notna()
        typed[name] = raw[name].where(~present, _stripped_text(raw[name]))
        typed[name] = typed[name].where(typed[name] != "", None)
    return typed, reasons


def _stripped_text(column: pd.Series) -> pd.Series:
    """`column.astype(str).str.strip()`, stripping each distinct value once: labels repeat a lot."""
    codes, uniques = pd.factorize(column.astype(str))
    stripped = np.asarray(pd.Index(uniques, dtype=object).str.strip(), dtype=object)
    return pd.Series(stripped[codes], index=column.index, dtype=object)
