"""Every kind of bad row is quarantined with its reason; rows are conserved; a bad batch trains nothing."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from ml_platform.lib.generator import Knobs, customer_segmentation, corrupt
from ml_platform.lib.landing import land_generated
from ml_platform.lib.spec import load_spec
from ml_platform.lib.validation import REASON, BatchError, split_valid_rejected
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)


def as_landed(frame: pd.DataFrame) -> pd.DataFrame:
    """What raw_data holds for a CSV: every cell as text, blanks as missing."""
    return frame.astype(object).where(frame.notna(), None).map(lambda v: v if v is None else str(v))


@pytest.mark.parametrize("kind, reason", [
    ("null", "null"),
    ("out_of_range", "age: out_of_range"),
    ("unknown_category", "occupation: unknown_category"),
    ("wrong_type", "income: wrong_type"),
])
def test_each_corruption_is_rejected_with_its_reason(kind, reason):
    clean = customer_segmentation(300, seed=1)
    dirty = corrupt(clean, 0.1, [kind], np.random.default_rng(0))
    split = split_valid_rejected(as_landed(dirty), SPEC)
    assert len(split.rejected) == 30 and len(split.valid) == 270
    assert split.rejected[REASON].str.contains(reason).all()
    if kind == "wrong_type":
        assert not split.rejected[REASON].str.contains("income: null").any()
        assert set(split.rejected["income"]) == {"about 40k"}  # the bad value is kept as it arrived


def test_rows_in_equal_valid_plus_rejected_and_valid_rows_are_typed():
    raw = as_landed(customer_segmentation(2000, seed=3, knobs=Knobs(corrupt_share=0.05)))
    split = split_valid_rejected(raw, SPEC)
    assert len(split.valid) + len(split.rejected) == 2000 and len(split.rejected) == 100
    assert split.valid["age"].dtype == float and split.valid["age"].between(18, 100).all()
    assert set(split.valid["occupation"]) <= set(SPEC.features[3].categories)
    assert sum(split.reason_counts().values()) >= 100


def test_unknown_label_non_integer_and_several_reasons_in_one_row():
    raw = as_landed(customer_segmentation(50, seed=4))
    raw.loc[0, "segment"] = "platinum"
    raw.loc[1, "age"] = "33.5"
    raw.loc[2, ["age", "gender"]] = ["7", "robot"]
    split = split_valid_rejected(raw, SPEC)
    reasons = dict(zip(split.rejected.index, split.rejected[REASON]))
    assert list(reasons.values()) == ["segment: unknown_class", "age: not_integer",
                                      "age: out_of_range; gender: unknown_category"]


def test_missing_column_rejects_the_batch_naming_the_column_and_extra_columns_are_reported():
    raw = as_landed(customer_segmentation(20, seed=5))
    with pytest.raises(BatchError, match=r"missing required column\(s\) \['income'\]"):
        split_valid_rejected(raw.drop(columns="income"), SPEC)
    split = split_valid_rejected(raw.assign(note="x"), SPEC)
    assert split.extra_columns == ["note"] and "note" not in split.valid.columns


def test_a_batch_over_the_rejection_limit_is_blocked_and_never_trained_on(make_platform):
    platform = make_platform()
    good = land_generated(platform.spec, platform.landing, 1)
    bad = land_generated(platform.spec, platform.landing, 2, knobs=Knobs(corrupt_share=0.5))
    assert platform.ingest(good.name).success
    blocked = platform.ingest(bad.name, raise_on_error=False)
    checks = blocked.get_asset_check_evaluations()
    assert [c.passed for c in checks] == [False]
    assert "50.0% of 800 rows rejected" in checks[0].description

    downstream = platform.defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection={dg.AssetKey(k) for k in
                         ("raw_data", "validated_data", "rejected_rows", "drift_report")})
    platform.retrain()
    run = downstream.execute_in_process(instance=platform.instance, partition_key=bad.name,
                                        raise_on_error=False)
    assert not run.success
    materialized = {e.asset_key.to_user_string() for e in run.get_asset_materialization_events()}
    assert "drift_report" not in materialized  # the blocking check stopped everything downstream

    training = platform.retrain()
    metadata = training.asset_materializations_for_node("training_set")[0].metadata
    assert metadata["batches"].value == [good.name]
    assert bad.name in metadata["excluded_batches"].value
