"""New data in: each landed file becomes a batch, ingested once."""

import time
from dataclasses import replace

import dagster as dg

from ml_platform.defs.jobs import ModelJobs
from ml_platform.lib.ingestion_attempts import Decision, PastRuns, attempt_run_key, decide
from ml_platform.lib.landing_scan import Landed, LandingState, scan
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, IngestionPolicy
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage

SHA_TAG, FILE_TAG, ATTEMPT_TAG = "ml_platform/sha256", "ml_platform/file", "ml_platform/attempt"
UNFINISHED = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}


def _runs_of(instance: dg.DagsterInstance, model: ModelScope, sha256: str) -> list[dg.RunRecord]:
    """This model's ingestion runs of this content under any file name: one lookup by tags, not a scan."""
    return list(instance.get_run_records(dg.RunsFilter(tags={SHA_TAG: sha256, **model.tags})))


def _past_runs(records: list[dg.RunRecord]) -> tuple[PastRuns, dg.RunRecord | None]:
    """What the runs say; a canceled run counts as a failed attempt."""
    failed = [r for r in records if r.dagster_run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)]
    last = max(failed, key=lambda r: r.end_time or r.update_timestamp.timestamp(), default=None)
    past = PastRuns(succeeded=any(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records),
                    in_progress=any(r.dagster_run.status in UNFINISHED for r in records), failed=len(failed),
                    last_failed_at=(last.end_time or last.update_timestamp.timestamp()) if last else None)
    return past, last


def _copy_of(landed: Landed, records: list[dg.RunRecord]) -> str | None:
    """The file this one copies: the content's runs were all for another file name."""
    names = {r.dagster_run.tags.get(FILE_TAG) for r in records} - {None}
    return min(names) if names and landed.key not in names else None


def _ingested_by_hand(instance: dg.DagsterInstance, model: ModelScope, landed: Landed) -> bool:
    """This file's raw_data was materialized with the same content outside the sensor (e.g. by `make run`)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=model.key("raw_data"), asset_partitions=[landed.key]), limit=1).records
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


def _decide(context: dg.SensorEvaluationContext, model: ModelScope, landed: Landed, records: list[dg.RunRecord],
            policy: IngestionPolicy) -> Decision:
    """What to do with this content now; giving up is logged once, with the file, the attempts and the last failure."""
    past, last_failed = _past_runs(records)
    if not (past.succeeded or past.in_progress) and _ingested_by_hand(context.instance, model, landed):
        past = PastRuns(succeeded=True)
    decision = decide(past, policy.max_attempts, policy.retry_after_seconds, time.time())
    if decision.gave_up and last_failed is not None:
        decision = replace(decision, reason=f"{decision.reason}; last failure: "
                                            f"{_failure(context.instance, last_failed.dagster_run.run_id)}")
        context.log.warning(f"{landed.key}: ingestion {decision.reason}")
    return decision


def new_data_sensor_for(model: ModelScope, jobs: ModelJobs) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("new_data_sensor"), jobs=[jobs.ingest_batch, jobs.process_batch],
               minimum_interval_seconds=15, default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def new_data_sensor(context: dg.SensorEvaluationContext, storage: PlatformStorage,
                        ingestion_policy: IngestionPolicy) -> dg.SensorResult:
        """A new file in the landing folder: add its partition and run ingestion (and drift, once there is a model).

        Only files that arrived since the cursor's mark are hashed; whether their content was seen before is
        asked of the instance (runs are tagged with the hash), so the cursor does not grow with history.
        A content counts as done once a run with its hash succeeded or is queued or running, so a renamed
        copy of a file already seen is skipped. A content whose runs all failed is requested again, after
        a pause and a few times at most (`IngestionPolicy`), each attempt with its own run key.
        """
        spec = model.spec()
        landing_dir = storage.scoped(model).landing_dir(spec)
        state = LandingState.parse(context.cursor)
        pending = state.still_pending(landing_dir)
        result = scan(landing_dir, spec.landing_pattern, state, ingestion_policy.arrival_margin_seconds)
        candidates: dict[str, tuple[Landed, list]] = {}
        for landed in result.new:
            records = _runs_of(context.instance, model, landed.sha256)
            earlier = candidates[landed.sha256][0].key if landed.sha256 in candidates else pending.get(landed.sha256, [None])[0]
            original = earlier if earlier not in (None, landed.key) else _copy_of(landed, records)
            if original is not None:
                context.log.info(f"{landed.key} has the same content as {original}: skipped")
                continue
            candidates[landed.sha256] = (landed, records)
        for sha256, (name, stamp) in pending.items():
            if sha256 not in candidates:
                candidates[sha256] = (Landed(landing_dir / name, sha256, stamp), _runs_of(context.instance, model, sha256))
        attempts, notes, state.pending = [], [], {}
        for landed, records in candidates.values():
            decision = _decide(context, model, landed, records, ingestion_policy)
            if not decision.settled:
                state.pending[landed.sha256] = [landed.key, landed.stamp_ns]
            if decision.attempt:
                attempts.append((landed, decision.attempt))
            elif decision.gave_up or not decision.settled:
                notes.append(f"{landed.key}: {decision.reason}")
        if not attempts:
            looked_at = f"no new content among {result.listed} files listed since the mark"
            return dg.SensorResult(skip_reason="; ".join([looked_at, *notes]), cursor=state.dump())
        has_model = context.instance.get_latest_materialization_event(model.key("reference_profile")) is not None
        job = jobs.process_batch if has_model else jobs.ingest_batch
        keys = sorted({landed.key for landed, _ in attempts})
        added = [key for key in keys if not context.instance.has_dynamic_partition(model.batches.name, key)]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=attempt_run_key(landed.sha256, attempt), partition_key=landed.key,
                                        job_name=job.name, tags={SHA_TAG: landed.sha256, FILE_TAG: landed.key,
                                                                 ATTEMPT_TAG: str(attempt), **model.tags})
                          for landed, attempt in attempts],
            dynamic_partitions_requests=[model.batches.build_add_request(added)],
            cursor=state.dump(),
        )

    return new_data_sensor
