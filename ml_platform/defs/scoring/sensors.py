"""A file dropped in the scoring folder is scored once per content, by the champion of that moment."""

import dagster as dg

from ml_platform.defs.scoring.assets import predictions, scoring_dir, scoring_files
from ml_platform.lib.landing import landed_files
from ml_platform.lib.landing_scan import LandingState, scan
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS
from ml_platform.resources import DatasetResource, PlatformStorage

score_file = dg.define_asset_job(
    "score_file", selection=dg.AssetSelection.assets(predictions), partitions_def=scoring_files,
    description="Score one dropped file of unlabelled records with the champion (`predictions`).")


@dg.sensor(job=score_file, minimum_interval_seconds=30, default_status=LOOP_SENSORS_DEFAULT_STATUS)
def scoring_sensor(context: dg.SensorEvaluationContext, dataset: DatasetResource,
                   storage: PlatformStorage) -> dg.SensorResult:
    """New content in `<data_dir>/scoring/<dataset>/`: a partition per file and one run (run key = its hash).

    A copy of a file already scored under another name is not scored again; a file rewritten with new
    content is, under a new run key."""
    folder = scoring_dir(storage, dataset.load())
    found = scan(landed_files(folder), LandingState.parse(context.cursor))
    if not found.new:
        return dg.SensorResult(skip_reason=f"no new file in {folder}", cursor=found.state.dump())
    keys = [landed.key for landed in found.new]
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=landed.key, run_key=f"score-{landed.sha256[:16]}",
                                    tags={"ml_platform/sha256": landed.sha256}) for landed in found.new],
        dynamic_partitions_requests=[scoring_files.build_add_request(keys)],
        cursor=found.state.dump())
