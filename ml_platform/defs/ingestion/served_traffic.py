"""Served traffic comes back: closed inference-log files become labelled landing batches."""

import dagster as dg

from ml_platform.lib.inference_batches import batch_name, consume
from ml_platform.lib.inference_log import closed_files
from ml_platform.lib.inference_log_recovery import folder_now, recover
from ml_platform.lib.label_feed import LabelFeed
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.lib.served_batches import seal
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS, LoopStorage
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage


def inference_log_sensor_for(model: ModelScope) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("inference_log_sensor"), minimum_interval_seconds=30,
               default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def inference_log_sensor(context: dg.SensorEvaluationContext, storage: PlatformStorage,
                             loop_storage: LoopStorage) -> dg.SensorResult:
        """Land the service's closed inference-log files as labelled batches, closing the loop.

        A file waits for its labels up to `label_wait_minutes`; then its labelled records are landed and
        the new-data sensor takes them from there. Consumed files move to `consumed/`, so the state is in
        the folder, not in a cursor: any order of closing, and a reset sensor, land each file exactly once.
        Every file read is also added to the prediction store, and new labels are joined to it each tick.
        A tick reads only the label files that arrived since the last one (`LabelFeed`): files are landed
        with the labels of the wait window, so its cost does not grow with the labels received so far.
        Landed records are staged and sealed into one batch per `served_batch_minutes` window
        (`lib/served_batches.py`), so served traffic adds at most 24 partitions a day at the default hour.
        """
        loop_storage = loop_storage.scoped(model)
        log_dir = loop_storage.inference_log_path
        if not log_dir.exists():
            return dg.SensorResult(skip_reason=f"no inference log at {log_dir} yet")
        for path in recover(log_dir, loop_storage.orphan_after_minutes * 60):
            context.log.warning(f"closed {path.name}: its writer stopped touching it "
                                f"{loop_storage.orphan_after_minutes:g} minutes ago")
        now, spec, minutes = folder_now(log_dir), model.spec(), loop_storage.served_batch_minutes
        landing_dir = storage.scoped(model).landing_dir(spec)
        feed = LabelFeed.load(PredictionStore(loop_storage.predictions_path), loop_storage.labels_path,
                              loop_storage.label_wait_minutes * 60, now)
        done = consume(log_dir, feed.labels(), spec, landing_dir, loop_storage.label_wait_minutes * 60, now, feed, minutes)
        feed.join_pending()  # labels that arrived since the last tick meet the records waiting for them
        feed.save()
        sealed = seal(landing_dir, {batch_name(path) for path in closed_files(log_dir)}, now, minutes)
        for window in sealed:
            context.log.info(f"served traffic of {window.window} ({window.files} log files, {window.rows} labelled "
                             f"records) landed as {window.landed.name}")
        for item in done:
            if item.error:
                context.log.error(f"{item.source.name} set aside in {item.source.parent.name}/: {item.error}")
            else:
                context.log.info(f"{item.source.name}: {item.labelled} of {item.predictions} records labelled -> "
                                 f"{item.landed.name if item.landed else 'nothing landed'}")
        landed = sum(item.landed is not None for item in done)
        consumed = (f"consumed {len(done)} log file(s), {landed} staged for their window's batch" if done
                    else "no closed inference-log file is ready (none, or waiting for labels)")
        return dg.SensorResult(skip_reason=f"{consumed}; {len(sealed)} window(s) sealed as batches for the new-data sensor")

    return inference_log_sensor
