"""Bad landed files: each case has a named outcome, rows are conserved, and nothing else is harmed."""

import pandas as pd
import pytest

from ml_platform.lib.generator import Knobs, customer_segmentation
from ml_platform.quickstart import run_platform
from ml_platform_tests.conftest import write_spec

ROWS = 200


def good(rows=ROWS, seed=11) -> pd.DataFrame:
    return customer_segmentation(rows, seed=seed)


def csv(frame, encoding="utf-8", **kwargs) -> bytes:
    return frame.to_csv(index=False, **kwargs).encode(encoding)


def parquet_truncated() -> bytes:
    import io

    buffer = io.BytesIO()
    good().to_parquet(buffer)
    return buffer.getvalue()[: len(buffer.getvalue()) // 2]


# name -> (file name, bytes, expected: "failed: <message>" | "blocked: <reason>" | "ok: <reason or ''>")
CASES = {
    "empty": ("empty.csv", b"", "failed: the file is empty"),
    "header_only": ("header.csv", csv(good().head(0)), "failed: no data rows"),
    "missing_column": ("missing.csv", csv(good().drop(columns="income")),
                       "failed: missing required column(s) ['income']"),
    "extra_column": ("extra.csv", csv(good().assign(note="hello")), "ok: "),
    "wrong_dtype_column": ("dtype.csv", csv(good().assign(age="old")), "blocked: age: wrong_type"),
    "all_null_column": ("nulls.csv", csv(good().assign(gender=None)), "blocked: gender: null"),
    "out_of_range": ("range.csv", csv(good().assign(age=lambda f: f["age"].where(f.index % 20 > 0, 150))),
                     "ok: age: out_of_range"),
    "unknown_categories": ("cats.csv", csv(good().assign(
        occupation=lambda f: f["occupation"].where(f.index % 25 > 0, "Astronaut"))), "ok: occupation: unknown_category"),
    "duplicate_rows": ("dups.csv", csv(pd.concat([good(), good().head(10)])), "ok: duplicate_row"),
    "all_bad": ("allbad.csv", csv(good().assign(segment="platinum")), "blocked: segment: unknown_class"),
    "non_utf8": ("latin1.csv", csv(good().assign(occupation="Ingénieur"), encoding="latin-1"),
                 "failed: not UTF-8 text"),
    "truncated_parquet": ("truncated.parquet", parquet_truncated(), "failed: cannot be parsed"),
    "semicolon_delimiter": ("semicolon.csv", csv(good(), sep=";"), "ok: "),
    "over_size_limit": ("big.csv", csv(good(rows=3000)), "failed: over the limit of 60000 bytes"),
}


@pytest.fixture(scope="module")
def platform_with_champion(tmp_path_factory):
    from ml_platform_tests.conftest import new_platform

    root = tmp_path_factory.mktemp("bad-input")
    spec = write_spec(root / "spec.yaml", source={"batches": 2, "rows_per_batch": 600}, max_file_bytes=60_000)
    platform = new_platform(root / "platform", spec)
    assert run_platform(platform.defs, platform.instance) == []
    yield platform
    platform.instance.dispose()


def rejected_reasons(result) -> set[str]:
    rejected = result.output_for_node("validate_batch", "rejected_rows")
    return set(rejected["rejection_reason"].str.split("; ").explode())


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_has_its_named_outcome_and_harms_nothing(platform_with_champion, case):
    platform = platform_with_champion
    name, payload, expected = CASES[case]
    (platform.landing / name).write_bytes(payload)
    result = platform.ingest(name, raise_on_error=False)
    outcome, detail = expected.split(": ", 1)
    if outcome == "failed":
        failure = next(e for e in result.all_events if e.is_step_failure)
        message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause \
            else failure.step_failure_data.error.message
        assert name in message and detail in message, message
        assert not result.success
    else:
        valid = result.output_for_node("validate_batch", "validated_data")
        rejected = result.output_for_node("validate_batch", "rejected_rows")
        landed = pd.read_csv(platform.landing / name, sep=None, engine="python")
        assert len(valid) + len(rejected) == len(landed)  # rows conserved
        check = result.get_asset_check_evaluations()[0]
        assert check.passed == (outcome == "ok") and result.success == (outcome == "ok")
        if detail:
            assert detail in rejected_reasons(result)
        else:
            assert rejected.empty
    assert platform.registry.champion_version() == "1"


def test_the_next_good_batch_is_processed_and_training_skips_the_bad_ones(platform_with_champion):
    platform = platform_with_champion
    (platform.landing / "zz-good.csv").write_bytes(csv(customer_segmentation(600, 99, Knobs())))
    assert platform.ingest("zz-good.csv").success
    training = platform.retrain()
    batches = training.asset_materializations_for_node("training_set")[0].metadata["batches"].value
    assert "zz-good.csv" in batches and "allbad.csv" not in batches and "dtype.csv" not in batches
    assert platform.registry.champion_version() in {"1", "2"}
