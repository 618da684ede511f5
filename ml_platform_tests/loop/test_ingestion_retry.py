"""A landed file whose ingestion failed is tried again, after a pause and a few times at most."""

import dagster as dg
import pytest

from ml_platform.definitions import build_defs
from ml_platform.defs.ingestion.sensors import ATTEMPT_TAG
from ml_platform.lib.ingestion_attempts import PastRuns, attempt_run_key, decide
from ml_platform.lib.landing import file_sha256, land_generated
from ml_platform.loop_resources import IngestionPolicy

SENSOR = "new_data_sensor"


@pytest.mark.parametrize("past, now, expected", [
    (PastRuns(), 0, (1, False)),
    (PastRuns(succeeded=True, failed=2, last_failed_at=0), 0, (None, True)),
    (PastRuns(in_progress=True, failed=1, last_failed_at=0), 100, (None, False)),
    (PastRuns(failed=1, last_failed_at=100), 159, (None, False)),
    (PastRuns(failed=1, last_failed_at=100), 160, (2, False)),
    (PastRuns(failed=2, last_failed_at=100), 500, (3, False)),
    (PastRuns(failed=3, last_failed_at=100), 500, (None, True)),
])
def test_the_next_attempt_waits_for_its_pause_and_stops_at_the_cap(past, now, expected):
    decision = decide(past, max_attempts=3, retry_after_seconds=60, now=now)
    assert (decision.attempt, decision.settled) == expected
    assert decision.gave_up == (past.failed >= 3 and not past.succeeded)


def test_the_first_attempt_keeps_the_bare_content_hash_as_its_run_key():
    assert [attempt_run_key("abc", n) for n in (1, 2, 3)] == ["abc", "abc-attempt-2", "abc-attempt-3"]


def with_policy(platform, **policy):
    platform.defs = build_defs({**platform.resources, "ingestion_policy": IngestionPolicy(**policy)})
    return platform


def block_asset_storage(platform):
    """Environmental trouble: a regular file where the IO managers' folder should be (root ignores chmod)."""
    blocker = platform.root / "data" / "assets"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    return blocker


def statuses(platform) -> list[dg.DagsterRunStatus]:
    return [r.dagster_run.status for r in reversed(platform.instance.get_run_records())]


def test_a_failed_ingestion_is_retried_after_the_pause_once_the_trouble_is_fixed(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    blocker = block_asset_storage(platform)
    landed = land_generated(platform.spec, platform.landing, 1, rows=200)
    sha256 = file_sha256(landed)

    [first] = ticker.tick(SENSOR)
    assert (first.run_key, first.tags[ATTEMPT_TAG]) == (sha256, "1")
    assert statuses(platform) == [dg.DagsterRunStatus.FAILURE]

    assert ticker.tick(SENSOR) == []  # the default pause of 60 s has not passed
    assert f"{landed.name}: attempt 2 of 3 due in" in ticker.evaluate(SENSOR).skip_message

    blocker.unlink()
    with_policy(platform, retry_after_seconds=0)
    [second] = ticker.tick(SENSOR)
    assert (second.run_key, second.partition_key, second.tags[ATTEMPT_TAG]) == (f"{sha256}-attempt-2", landed.name, "2")
    assert statuses(platform) == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]

    assert ticker.tick(SENSOR) == []
    assert ticker.evaluate(SENSOR).skip_message == "no new content among 1 files listed since the mark"
    assert platform.instance.get_dynamic_partitions("batches") == [landed.name]


def test_a_file_that_keeps_failing_stops_at_max_attempts_and_says_why(make_loop_platform, ticker_for):
    platform = with_policy(make_loop_platform(), max_attempts=2, retry_after_seconds=0)
    ticker = ticker_for(platform)
    block_asset_storage(platform)
    landed = land_generated(platform.spec, platform.landing, 1, rows=200)

    assert [r.tags[ATTEMPT_TAG] for r in ticker.tick(SENSOR)] == ["1"]
    assert [r.tags[ATTEMPT_TAG] for r in ticker.tick(SENSOR)] == ["2"]
    assert statuses(platform) == [dg.DagsterRunStatus.FAILURE] * 2

    gave_up = ticker.evaluate(SENSOR)
    assert not gave_up.run_requests
    assert f"{landed.name}: gave up after 2 failed attempts (max_attempts=2); last failure: " in gave_up.skip_message
    assert "NotADirectoryError" in gave_up.skip_message.split("last failure: ")[1]  # the step's own error
    assert ticker.tick(SENSOR) == [] and len(statuses(platform)) == 2
    assert ticker.evaluate(SENSOR).skip_message == "no new content among 1 files listed since the mark"  # once
