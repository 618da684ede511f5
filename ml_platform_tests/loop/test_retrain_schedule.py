"""The scheduled retrain: it asks for a `retrain` only for data the champion has not seen, within the loop's cap.

Ticks are evaluated with `build_schedule_context` on a real instance whose champion was trained by the
platform itself; the skip reasons asserted here are what the UI shows on the schedule's tick history.
"""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform.defs.monitoring.triggers import TRIGGER_TAG
from ml_platform.defs.training.schedules import SCHEDULE_NAME
from ml_platform.lib.generator import customer_segmentation
from ml_platform.quickstart import run_platform

MONDAY_6 = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)


def tick(platform):
    schedule = platform.defs.get_repository_def().get_schedule_def(SCHEDULE_NAME)
    with dg.build_schedule_context(instance=platform.instance, scheduled_execution_time=MONDAY_6,
                                   resources=platform.resources) as context:
        return schedule.evaluate_tick(context)


def test_a_tick_skips_when_the_champion_has_seen_every_batch_and_retrains_on_a_new_one(make_loop_platform):
    platform = make_loop_platform(policy={"max_retrains": 2})
    assert platform.defs.get_repository_def().get_schedule_def(SCHEDULE_NAME).cron_schedule == "0 6 * * 1"
    empty = tick(platform)
    assert empty.run_requests == [] and empty.skip_message == "no usable batch yet: nothing to train on"

    assert run_platform(platform.defs, platform.instance) == []
    seen = tick(platform)
    assert seen.run_requests == []
    assert seen.skip_message == "champion v1 was trained on every usable batch (2)"

    customer_segmentation(600, 123).to_csv(platform.landing / "batch-late.csv", index=False)
    assert platform.ingest("batch-late.csv").success
    [request] = tick(platform).run_requests
    assert request.job_name in (None, "retrain") and request.run_key == "scheduled-20261130T0600"
    assert request.tags[TRIGGER_TAG] == "schedule" and request.tags["ml_platform/batches"] == "batch-late.csv"

    for _ in range(2):  # the retrain sensor's runs count against the same cap
        platform.instance.report_run_failed(platform.instance.create_run_for_job(
            platform.job("retrain"), tags={TRIGGER_TAG: "drift"}))
    held = tick(platform)
    assert held.run_requests == []
    assert held.skip_message == "retrain held back (cap: 2 loop retrains in the last 24 h (max 2)); 1 batch(es) wait"


def test_a_retrain_never_runs_beside_another(make_loop_platform):
    """`training_set` is in the `retrain` pool; the instance caps that pool at one run (run granularity)."""
    platform = make_loop_platform()
    job = platform.job("retrain")
    assert job.graph.node_named("training_set").definition.pool == "retrain"
    config = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())["concurrency"]["pools"]
    assert config == {"granularity": "run", "default_limit": 1}
