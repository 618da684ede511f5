"""Derived features: what each declaration computes, and that a DataFrame and request records get the same values."""

import math

import numpy as np
import pandas as pd
import pytest

from ml_platform.lib.features import add_features, add_features_to_rows, model_spec
from ml_platform.lib.spec import DatasetSpec, load_spec
from ml_platform.lib.validation import split_valid_rejected
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = DatasetSpec.model_validate({
    "name": "every-kind",
    "target": {"name": "y", "classes": ["a", "b"]},
    "features": [{"name": "x", "type": "numeric", "nullable": True},
                 {"name": "d", "type": "numeric", "min": 0, "max": 10},
                 {"name": "at", "type": "timestamp", "nullable": True}],
    "derived": [
        {"name": "x_bin", "kind": "bins", "column": "x", "edges": [0, 1, 10, 100], "labels": ["low", "mid", "high"]},
        {"name": "x_log", "kind": "log", "column": "x"},
        {"name": "x_log1p", "kind": "log1p", "column": "x"},
        {"name": "x_per_d", "kind": "ratio", "numerator": "x", "denominator": "d"},
        {"name": "x_per_d_capped", "kind": "clip", "column": "x_per_d", "min": -1, "max": 5},  # reads a derived one
        {"name": "hour", "kind": "timestamp_part", "column": "at", "part": "hour"},
        {"name": "weekday", "kind": "timestamp_part", "column": "at", "part": "weekday"},
        {"name": "month", "kind": "timestamp_part", "column": "at", "part": "month"},
    ],
    "source": {"kind": "generator"},
})
RAW = pd.DataFrame({
    "x": [0.0, 0.5, 1.0, 1.0000001, 10.0, 99.9, 100.0, 100.5, -2.0, None, 3.3333333333],
    "d": [1.0, 0.0, 2.0, 3.0, 7.0, 9.0, 10.0, 4.0, 2.0, 5.0, 3.0],
    "at": ["2026-03-01T23:30:00Z", "2026-03-02T01:00:00+02:00", "2026-12-31T12:00:00", None,
           "2026-01-05T00:00:00Z", "2026-06-15T08:15:00-05:00", "2026-02-28T10:00:00Z", "2026-07-04T00:00:00Z",
           "2026-11-11T11:11:11Z", "2026-05-05T05:05:05Z", "2026-09-09T09:09:09Z"],
    "y": ["a", "b"] * 5 + ["a"],
})


def test_bins_are_pandas_cut_right_closed_with_the_lowest_edge_included():
    computed = add_features(SPEC, RAW)["x_bin"]
    expected = pd.cut(RAW["x"], [0, 1, 10, 100], labels=["low", "mid", "high"], include_lowest=True)
    assert computed.tolist() == [None if pd.isna(v) else v for v in expected.astype(object)]
    assert computed.iloc[0] == "low" and computed.iloc[2] == "low" and computed.iloc[3] == "mid"
    assert computed.iloc[7] is None and computed.iloc[8] is None  # beyond the edges: null, for the imputer


def test_numbers_outside_a_function_domain_are_null_never_infinite():
    frame = add_features(SPEC, RAW)
    assert frame["x_log"].isna().tolist() == [True, False, False, False, False, False, False, False, True, True, False]
    assert math.isnan(frame["x_per_d"].iloc[1])  # 0.5 / 0
    assert frame["x_per_d"].iloc[2] == 0.5 and frame["x_log1p"].iloc[4] == np.log1p(10.0)
    assert frame["x_per_d_capped"].max() == 5 and frame["x_per_d_capped"].min() == -1
    assert np.isfinite(frame.select_dtypes("number").to_numpy()[~frame.select_dtypes("number").isna()]).all()


def test_timestamp_parts_are_taken_in_utc():
    frame = add_features(SPEC, RAW)
    assert frame["hour"].tolist()[:3] == [23, 23, 12]  # 01:00 at +02:00 is 23:00 UTC the day before
    assert frame["weekday"].tolist()[:3] == [6, 6, 3]  # Sunday, Sunday (1 March in UTC), Thursday
    assert frame["month"].tolist()[:3] == [3, 3, 12]
    assert math.isnan(frame["hour"].iloc[3])


def test_records_and_frames_get_the_same_values_bit_for_bit():
    """The service's path (dicts, as pydantic dumps them) against the asset's (a DataFrame)."""
    frame = add_features(SPEC, RAW)
    rows = add_features_to_rows(SPEC, RAW.astype(object).where(RAW.notna(), None).to_dict("records"))
    for name in [d.name for d in SPEC.derived]:
        for from_row, from_frame in zip([row[name] for row in rows], frame[name]):
            if from_row is None:
                assert pd.isna(from_frame)
            elif isinstance(from_row, str):
                assert from_row == from_frame
            else:
                assert np.float64(from_row).tobytes() == np.float64(from_frame).tobytes(), name


def test_validated_timestamps_derive_as_their_text_does():
    """The asset sees pandera-typed datetimes; the service sees the ISO text the caller sent."""
    valid = split_valid_rejected(RAW, SPEC).valid
    from_typed = add_features(SPEC, valid)
    from_text = add_features(SPEC, RAW.loc[RAW["x"].isna() | RAW["x"].notna()].reset_index(drop=True))
    pd.testing.assert_frame_equal(from_typed[["hour", "weekday", "month"]],
                                  from_text.loc[valid.index, ["hour", "weekday", "month"]])


def test_the_model_sees_raw_numbers_and_categories_then_the_derived_ones():
    inputs = model_spec(SPEC)
    assert inputs.feature_names == ["x", "d", "x_bin", "x_log", "x_log1p", "x_per_d", "x_per_d_capped",
                                    "hour", "weekday", "month"]
    assert inputs.categorical_features == ["x_bin"]
    nullable = {f.name: f.nullable for f in inputs.features}
    assert nullable["x_bin"] and nullable["x_per_d"] and nullable["hour"]
    default = model_spec(load_spec(DEFAULT_SPEC))
    assert default.categorical_features == ["gender", "occupation", "age_group"]
    assert not [f for f in default.features if f.nullable]  # age in [18, 100] always falls in a bin


@pytest.mark.parametrize("ages, groups", [([18, 25, 26, 35, 36, 65, 66, 100], ["18-25", "18-25", "26-35", "26-35",
                                                                              "36-50", "51-65", "66-100", "66-100"])])
def test_the_default_dataset_has_the_seed_tutorials_age_groups(ages, groups):
    spec = load_spec(DEFAULT_SPEC)
    rows = add_features_to_rows(spec, [{"age": age} for age in ages])
    assert [row["age_group"] for row in rows] == groups
