"""A file dropped in the scoring folder is scored once per content, by the champion of that moment."""

import dagster as dg

from ml_platform.defs.scoring.assets import scoring_dir, scoring_files
from ml_platform.lib.landing_scan import LandingState, scan
from ml_platform.loop_resources import LOOP_SENSORS_DEFAULT_STATUS
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage

SHA_TAG = "ml_platform/sha256"

def score_file_job(model: ModelScope):
    return dg.define_asset_job(
        model.named("score_file"), selection=model.selection("predictions"), partitions_def=scoring_files(model),
        tags=model.tags, description="Score one dropped file of unlabelled records with the champion (`predictions`).")


def _scored(instance: dg.DagsterInstance, job: str, sha256: str) -> bool:
    """A run of the model's `score_file` exists for this content: one lookup by tag."""
    return bool(instance.get_run_records(dg.RunsFilter(job_name=job, tags={SHA_TAG: sha256}), limit=1))


def scoring_sensor_for(model: ModelScope, score_file) -> dg.SensorDefinition:
    @dg.sensor(name=model.named("scoring_sensor"), job=score_file, minimum_interval_seconds=30,
               default_status=LOOP_SENSORS_DEFAULT_STATUS)
    def scoring_sensor(context: dg.SensorEvaluationContext, storage: PlatformStorage) -> dg.SensorResult:
        """New content in `<data_dir>/scoring/<dataset>/`: a partition per file and one run (run key = its hash).

        Only files that arrived since the cursor's mark are hashed, and the instance says whether a content
        was scored before, so the cursor does not grow with history. A copy of a file already scored under
        another name is not scored again; a file rewritten with new content is, under a new run key."""
        folder = scoring_dir(storage.scoped(model), model.spec())
        found = scan(folder, "*", LandingState.parse(context.cursor))
        new = {}
        for landed in found.new:
            if landed.sha256 in new or _scored(context.instance, score_file.name, landed.sha256):
                context.log.info(f"{landed.key}: this content was scored before: skipped")
            else:
                new[landed.sha256] = landed
        if not new:
            return dg.SensorResult(skip_reason=f"no new content among {found.listed} files listed since the mark "
                                               f"in {folder}", cursor=found.state.dump())
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=landed.key, run_key=f"score-{landed.sha256[:16]}",
                                        tags={SHA_TAG: landed.sha256, **model.tags}) for landed in new.values()],
            dynamic_partitions_requests=[scoring_files(model).build_add_request([landed.key for landed in new.values()])],
            cursor=found.state.dump())

    return scoring_sensor
