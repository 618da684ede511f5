"""Served traffic comes back: closed inference-log files become labelled landing batches."""

import dagster as dg

from ml_platform.lib.inference_batches import consume
from ml_platform.lib.inference_log import closed_files
from ml_platform.lib.inference_log_recovery import folder_now, recover
from ml_platform.lib.label_feed import LabelFeed
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, LoopStorage
from ml_platform.resources import DatasetResource, PlatformStorage


@dg.sensor(minimum_interval_seconds=30, default_status=LOOP_SENSORS_DEFAULT_STATUS)
def inference_log_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource, storage: PlatformStorage,
                         loop_storage: LoopStorage) -> dg.SensorResult:
    """Land the service's closed inference-log files as labelled batches, closing the loop.

    A file waits for its labels up to `label_wait_minutes`; then its labelled records are landed and
    the new-data sensor takes them from there. Consumed files move to `consumed/`, so the state is in
    the folder, not in a cursor: any order of closing, and a reset sensor, land each file exactly once.
    Every file read is also added to the prediction store, and new labels are joined to it each tick.
    A tick reads only the label files that arrived since the last one (`LabelFeed`): files are landed
    with the labels of the wait window, so its cost does not grow with the labels received so far.
    """
    log_dir = loop_storage.inference_log_path
    if not log_dir.exists():
        return dg.SensorResult(skip_reason=f"no inference log at {log_dir} yet")
    for path in recover(log_dir, loop_storage.orphan_after_minutes * 60):
        context.log.warning(f"closed {path.name}: its writer stopped touching it "
                            f"{loop_storage.orphan_after_minutes:g} minutes ago")
    now = folder_now(log_dir)
    feed = LabelFeed.load(PredictionStore(loop_storage.predictions_path), loop_storage.labels_path,
                          loop_storage.label_wait_minutes * 60, now)
    if not closed_files(log_dir):
        feed.join_pending()  # labels that arrived since the last tick meet the records waiting for them
        feed.save()
        return dg.SensorResult(skip_reason="no closed inference-log file waits")
    spec = dataset.load()
    done = consume(log_dir, feed.labels(), spec, storage.landing_dir(spec),
                   loop_storage.label_wait_minutes * 60, now, feed)
    feed.join_pending()
    feed.save()
    for item in done:
        if item.error:
            context.log.error(f"{item.source.name} set aside in {item.source.parent.name}/: {item.error}")
        else:
            context.log.info(f"{item.source.name}: {item.labelled} of {item.predictions} records labelled -> "
                             f"{item.landed.name if item.landed else 'nothing landed'}")
    if not done:
        return dg.SensorResult(skip_reason="closed inference-log files wait for their labels")
    landed = sum(item.landed is not None for item in done)
    return dg.SensorResult(skip_reason=f"consumed {len(done)} log file(s), {landed} landed as batches "
                                       "for the new-data sensor")
