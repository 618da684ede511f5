"""Failures reach a person: every failed run is logged and, when a webhook is configured, POSTed as JSON.

A failed blocking asset check fails its step, so it fails the run and arrives here too; the alert
names the failed checks so the cause is in the message, not only in the UI.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, AlertWebhook


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[dict[str, Any]]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [{"asset": e.asset_key.to_user_string(), "check": e.check_name, "description": e.description,
             "severity": e.severity.value} for e in evaluations if not e.passed]


def alert_payload(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    run = context.dagster_run
    steps = [{"step": event.step_key, "error": (event.step_failure_data.error.message.strip()
                                                if event.step_failure_data.error else "")}
             for event in context.get_step_failure_events()]
    return {
        "kind": "dagster_run_failure",
        "run_id": run.run_id,
        "job": run.job_name,
        "partition": run.tags.get("dagster/partition"),
        "tags": {k: v for k, v in run.tags.items() if k.startswith(("ml_platform/", "dagster/sensor", "dagster/run_key"))},
        "message": context.failure_event.message,
        "failed_steps": steps,
        "failed_checks": failed_checks(context.instance, run.run_id),
    }


@dg.run_failure_sensor(minimum_interval_seconds=15, default_status=LOOP_SENSORS_DEFAULT_STATUS)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertWebhook) -> None:
    """Log every failed run of this code location and POST it to `ML_PLATFORM_ALERT_WEBHOOK` when set."""
    payload = alert_payload(context)
    checks = "; ".join(f"{c['asset']}.{c['check']}: {c['description']}" for c in payload["failed_checks"])
    context.log.error(f"run {payload['run_id']} of {payload['job']} failed: {payload['message']}"
                      + (f"; failed checks: {checks}" if checks else ""))
    status = alerts.post(payload)
    if status is not None:
        context.log.info(f"alert posted to the webhook: HTTP {status}")
