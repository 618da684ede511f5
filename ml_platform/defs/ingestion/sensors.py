"""New data in: landed files become batches, and the service's inference log becomes landed files."""

import json
import time

import dagster as dg

from ml_platform.defs.jobs import ingest_batch, process_batch
from ml_platform.defs.partitions import batches
from ml_platform.lib.inference_batches import rotate, waiting
from ml_platform.lib.landing import landed_files
from ml_platform.lib.landing_scan import Landed, LandingState, scan
from ml_platform.lib.live_performance import read_labels
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, LoopStorage
from ml_platform.resources import DatasetResource, PlatformStorage

SHA_TAG, FILE_TAG = "ml_platform/sha256", "ml_platform/file"


def _already_ingested(instance: dg.DagsterInstance, landed: Landed) -> bool:
    """This content was requested before (any name), or this file is ingested already (e.g. by `make run`)."""
    if instance.get_run_records(dg.RunsFilter(tags={SHA_TAG: landed.sha256}), limit=1):
        return True
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_data"), asset_partitions=[landed.key]), limit=1).records
    recorded = records[0].asset_materialization.metadata.get("sha256") if records else None
    return recorded is not None and recorded.value == landed.sha256


@dg.sensor(jobs=[ingest_batch, process_batch], minimum_interval_seconds=15,
           default_status=LOOP_SENSORS_DEFAULT_STATUS)
def new_data_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource,
                    storage: PlatformStorage) -> dg.SensorResult:
    """A new file in the landing folder: add its partition and run ingestion (and drift, once there is a model).

    The run key is the file's content hash, so a file is never processed twice, and a renamed copy of
    a file already seen is recognised and skipped.
    """
    spec = dataset.load()
    result = scan(landed_files(storage.landing_dir(spec), spec.landing_pattern), LandingState.parse(context.cursor))
    for copy, original in result.copies.items():
        context.log.info(f"{copy} has the same content as {original}: skipped")
    new = [landed for landed in result.new if not _already_ingested(context.instance, landed)]
    if not new:
        return dg.SensorResult(skip_reason=f"no new content among {len(result.state.files)} landed files",
                               cursor=result.state.dump())
    has_model = context.instance.get_latest_materialization_event(dg.AssetKey("reference_profile")) is not None
    job = process_batch if has_model else ingest_batch
    known = set(context.instance.get_dynamic_partitions(batches.name))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=landed.sha256, partition_key=landed.key, job_name=job.name,
                                    tags={SHA_TAG: landed.sha256, FILE_TAG: landed.key}) for landed in new],
        dynamic_partitions_requests=[batches.build_add_request(sorted({landed.key for landed in new} - known))],
        cursor=result.state.dump(),
    )


@dg.sensor(minimum_interval_seconds=30, default_status=LOOP_SENSORS_DEFAULT_STATUS)
def inference_log_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, storage: PlatformStorage,
                         loop_storage: LoopStorage) -> dg.SensorResult:
    """Rotate the service's closed inference-log files into labelled landing batches, closing the loop.

    A file waits for its labels up to `label_wait_minutes`; then its labelled predictions are landed
    and the new-data sensor takes them from there.
    """
    after = json.loads(context.cursor)["after"] if context.cursor else None
    files = waiting(loop_storage.inference_log_path, after)
    if not files:  # the common tick: no need to read every label file received so far
        return dg.SensorResult(skip_reason="no closed inference-log file is ready", cursor=context.cursor)
    spec = dataset.load()
    rotations = rotate(files, read_labels(loop_storage.labels_path), spec, storage.landing_dir(spec),
                       loop_storage.label_wait_minutes * 60, time.time())
    for rotation in rotations:
        context.log.info(f"{rotation.source.name}: {rotation.labelled} of {rotation.predictions} predictions "
                         f"labelled -> {rotation.landed.name if rotation.landed else 'nothing landed'}")
    if not rotations:
        return dg.SensorResult(skip_reason="no closed inference-log file is ready", cursor=context.cursor)
    return dg.SensorResult(cursor=json.dumps({"after": rotations[-1].source.name}))
