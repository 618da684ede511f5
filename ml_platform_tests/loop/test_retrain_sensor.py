"""The retrain sensor: drifted batches coalesce into one run, the reason is tagged, cap and cool-down hold."""

import dagster as dg

from ml_platform.defs.monitoring.triggers import TRIGGER_TAG


def report_drift(instance, batch, decision="drift", columns=("income",)):
    instance.report_runless_asset_event(dg.AssetMaterialization(
        "drift_report", partition=batch,
        metadata={"decision": decision, "drifted_columns": dg.MetadataValue.json(list(columns))}))


def loop_retrain_run(platform, finished=True):
    run = platform.instance.create_run_for_job(platform.job("retrain"), tags={TRIGGER_TAG: "drift"})
    if finished:
        platform.instance.report_run_failed(run)
    return run


def test_drifted_batches_share_one_retrain_and_are_never_requested_twice(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    ticker = ticker_for(platform)
    report_drift(platform.instance, "b1", columns=["income"])
    report_drift(platform.instance, "b2", decision="no drift", columns=[])
    report_drift(platform.instance, "b3", columns=["age", "income"])

    first = ticker.evaluate("retrain_sensor")
    [request] = first.run_requests
    assert request.tags[TRIGGER_TAG] == "drift"
    assert request.tags["ml_platform/batches"] == "b1,b3"
    assert request.tags["ml_platform/drifted_columns"] == "age,income"

    again = ticker.evaluate("retrain_sensor")
    assert again.run_requests == [] and again.skip_message == "no drift and no performance drop"
    ticker.cursors.clear()  # without its cursor the same request (same run key) is made, which the daemon drops
    assert [r.run_key for r in ticker.evaluate("retrain_sensor").run_requests] == [request.run_key]


def test_no_drift_requests_nothing(make_loop_platform, ticker_for):
    platform = make_loop_platform()
    report_drift(platform.instance, "b1", decision="no drift", columns=[])
    assert ticker_for(platform).evaluate("retrain_sensor").run_requests == []


def test_cap_and_cool_down_hold_the_trigger_back_without_losing_it(make_loop_platform, ticker_for):
    platform = make_loop_platform(policy={"max_retrains": 2, "cooldown_minutes": 60})
    ticker = ticker_for(platform)
    running = loop_retrain_run(platform, finished=False)
    report_drift(platform.instance, "b1")
    assert "still queued or running" in ticker.evaluate("retrain_sensor").skip_message

    platform.instance.report_run_failed(running)
    assert "cool-down" in ticker.evaluate("retrain_sensor").skip_message

    loop_retrain_run(platform)
    held = ticker.evaluate("retrain_sensor")
    assert held.run_requests == [] and "cap: 2 loop retrains" in held.skip_message

    relaxed = make_loop_platform(name="relaxed", policy={"max_retrains": 3, "cooldown_minutes": 0})
    relaxed.instance = platform.instance
    [request] = ticker_for(relaxed, cursors=dict(ticker.cursors)).evaluate("retrain_sensor").run_requests
    assert request.tags["ml_platform/batches"] == "b1"
