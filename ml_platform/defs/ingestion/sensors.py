"""New data in: each landed file becomes a batch, ingested once."""

import time
from dataclasses import replace

import dagster as dg

from ml_platform.defs.jobs import ingest_batch, process_batch
from ml_platform.defs.partitions import batches
from ml_platform.lib.ingestion_attempts import Decision, PastRuns, attempt_run_key, decide
from ml_platform.lib.landing import landed_files
from ml_platform.lib.landing_scan import Landed, LandingState, scan
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, IngestionPolicy
from ml_platform.resources import DatasetResource, PlatformStorage

SHA_TAG, FILE_TAG, ATTEMPT_TAG = "ml_platform/sha256", "ml_platform/file", "ml_platform/attempt"
UNFINISHED = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}


def _past_runs(instance: dg.DagsterInstance, sha256: str) -> tuple[PastRuns, dg.RunRecord | None]:
    """This content's ingestion runs under any file name; a canceled run counts as a failed attempt."""
    records = instance.get_run_records(dg.RunsFilter(tags={SHA_TAG: sha256}))
    failed = [r for r in records if r.dagster_run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    last = max(failed, key=lambda r: r.end_time or r.update_timestamp.timestamp(), default=None)
    past = PastRuns(succeeded=any(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records),
                    in_progress=any(r.dagster_run.status in UNFINISHED for r in records), failed=len(failed),
                    last_failed_at=(last.end_time or last.update_timestamp.timestamp()) if last else None)
    return past, last


def _ingested_by_hand(instance: dg.DagsterInstance, landed: Landed) -> bool:
    """This file's raw_data was materialized with the same content outside the sensor (e.g. by `make run`)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_data"), asset_partitions=[landed.key]), limit=1).records
    recorded = records[0].asset_materialization.metadata.get("sha256") if records else None
    return recorded is not None and recorded.value == landed.sha256


def _failure(instance: dg.DagsterInstance, run_id: str) -> str:
    """The innermost error of the run's failed step (the run's own failure message if no step failed)."""
    events = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE})
    steps = [e.dagster_event.step_failure_data.error for e in events if e.dagster_event.is_step_failure]
    if not steps:
        return events[-1].message if events else "no failure recorded"
    error = steps[-1]
    while error.cause:
        error = error.cause
    return error.message.strip()


def _decide(context: dg.SensorEvaluationContext, landed: Landed, policy: IngestionPolicy) -> Decision:
    """What to do with this content now; giving up is logged once, with the file, the attempts and the last failure."""
    past, last_failed = _past_runs(context.instance, landed.sha256)
    if not (past.succeeded or past.in_progress) and _ingested_by_hand(context.instance, landed):
        past = PastRuns(succeeded=True)
    decision = decide(past, policy.max_attempts, policy.retry_after_seconds, time.time())
    if decision.gave_up and last_failed is not None:
        decision = replace(decision, reason=f"{decision.reason}; last failure: "
                                            f"{_failure(context.instance, last_failed.dagster_run.run_id)}")
        context.log.warning(f"{landed.key}: ingestion {decision.reason}")
    return decision


@dg.sensor(jobs=[ingest_batch, process_batch], minimum_interval_seconds=15,
           default_status=LOOP_SENSORS_DEFAULT_STATUS)
def new_data_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, storage: PlatformStorage,
                    ingestion_policy: IngestionPolicy) -> dg.SensorResult:
    """A new file in the landing folder: add its partition and run ingestion (and drift, once there is a model).

    A content counts as done once a run with its hash succeeded or is queued or running, so a renamed
    copy of a file already seen is skipped. A content whose runs all failed is requested again, after
    a pause and a few times at most (`IngestionPolicy`), each attempt with its own run key.
    """
    spec = dataset.load()
    landing_dir = storage.landing_dir(spec)
    result = scan(landed_files(landing_dir, spec.landing_pattern), LandingState.parse(context.cursor))
    state = result.state
    for copy, original in result.copies.items():
        context.log.info(f"{copy} has the same content as {original}: skipped")
    candidates = {landed.sha256: landed for landed in result.new}
    for sha256, name in state.pending.items():
        still_there = (landing_dir / name).is_file() and state.files.get(name, [None] * 3)[2] == sha256
        if still_there and sha256 not in candidates:
            candidates[sha256] = Landed(landing_dir / name, sha256)
    attempts, notes, state.pending = [], [], {}
    for landed in candidates.values():
        decision = _decide(context, landed, ingestion_policy)
        if not decision.settled:
            state.pending[landed.sha256] = landed.key
        if decision.attempt:
            attempts.append((landed, decision.attempt))
        elif decision.gave_up or not decision.settled:
            notes.append(f"{landed.key}: {decision.reason}")
    if not attempts:
        return dg.SensorResult(skip_reason="; ".join([f"no new content among {len(state.files)} landed files",
                                                      *notes]), cursor=state.dump())
    has_model = context.instance.get_latest_materialization_event(dg.AssetKey("reference_profile")) is not None
    job = process_batch if has_model else ingest_batch
    known = set(context.instance.get_dynamic_partitions(batches.name))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=attempt_run_key(landed.sha256, attempt), partition_key=landed.key,
                                    job_name=job.name, tags={SHA_TAG: landed.sha256, FILE_TAG: landed.key,
                                                             ATTEMPT_TAG: str(attempt)})
                      for landed, attempt in attempts],
        dynamic_partitions_requests=[batches.build_add_request(sorted({landed.key for landed, _ in attempts} - known))],
        cursor=state.dump(),
    )
