"""The retention policy carried out: one asset, run daily by a schedule, that says what it removed."""

import re
import time
from datetime import datetime

import dagster as dg
from upath import UPath

from ml_platform.defs.retention.protected import (CURRENT_REFERENCE, LABEL_WAIT, label_protection,
                                                  landed_protection, needed_versions)
from ml_platform.defs.retention.settings import RetentionSettings
from ml_platform.lib.inference_batches import UNREADABLE_DIR
from ml_platform.lib.inference_log import CLOSED_SUFFIX, CONSUMED_DIR, OPEN_SUFFIX
from ml_platform.lib.retention import Swept, cutoff, nothing_protected, sweep
from ml_platform.lib.retention_bentos import prune_bentos, prune_models
from ml_platform.lib.retention_files import listed, listed_tree, remove_empty_folders, subfolders
from ml_platform.lib.retention_models import prune_registry
from ml_platform.lib.retention_stores import sweep_archives, sweep_predictions
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.defs.retention.report import report_metadata
from ml_platform.loop_resources import LoopStorage
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage

HOUR = 3600.0
RUN_FOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RUN_NOT_FINISHED = "its run is not finished"
RESOURCES = {"retention", "storage", "loop_storage", "mlflow_tracking", "bento_store", "json_io_manager"}


class RetentionRun(dg.Config):
    """`now`: an ISO-8601 instant the ages are measured from (empty: the clock), for a look ahead;
    `dry_run`: count what would go and delete nothing."""

    now: str = ""
    dry_run: bool = False


def _reference(context: dg.AssetExecutionContext, model: ModelScope) -> dict | None:
    """The current reference_profile's value, as drift reads it (None before the first retrain)."""
    try:
        return context.resources.json_io_manager.load_input(dg.build_input_context(
            asset_key=model.key("reference_profile"), instance=context.instance))
    except FileNotFoundError:
        return None


def retention_report_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(key=model.key("retention_report"), group_name=model.named("maintenance"),
              kinds={"python", "mlflow", "bentoml"}, owners=["team:ml-platform"], code_version="1",
              pool=model.named("retention"), required_resource_keys=RESOURCES)
    def retention_report(context: dg.AssetExecutionContext, config: RetentionRun) -> dg.MaterializeResult:
        """Deletes what the retention policy allows and nothing anything still needs: per kind, the files
        removed (count, bytes), the oldest kept, and what was old enough but refused, with why."""
        resources = context.resources  # the reference profile is read through its IO manager, so by key
        retention: RetentionSettings = resources.retention
        storage: PlatformStorage = resources.storage.scoped(model)
        loop_storage: LoopStorage = resources.loop_storage.scoped(model)
        policy, spec, root, dry = retention.policy(), model.spec(), storage.root, config.dry_run
        now = datetime.fromisoformat(config.now).timestamp() if config.now else time.time()
        logs, reports = loop_storage.inference_log_path, root / "reports"
        reference = _reference(context, model)
        # A challenger's live comparison reads consumed files since it was set, for up to promotion.max_hours.
        consumed_before = cutoff(policy.consumed_log_days, now)
        if consumed_before is not None:
            consumed_before = min(consumed_before, now - (spec.promotion.max_hours + 1) * HOUR)
        pending = [*listed(logs, f"*{CLOSED_SUFFIX}"), *listed(logs, f"*{OPEN_SUFFIX}")]
        swept = [
            sweep("consumed_logs", listed(logs / CONSUMED_DIR, f"*{CLOSED_SUFFIX}"), consumed_before, nothing_protected, dry),
            sweep("pending_logs", pending, consumed_before, lambda _: LABEL_WAIT, dry),
            sweep("unreadable_logs", listed(logs / UNREADABLE_DIR), cutoff(policy.unreadable_log_days, now),
                  nothing_protected, dry),
            sweep("label_files", listed(loop_storage.labels_path, "*.csv"), cutoff(policy.label_days, now),
                  label_protection(pending), dry),
            _landed(context, model, storage, cutoff(policy.landed_days, now), dry),
            sweep("drift_reports", listed(reports / "drift", "*.html"), cutoff(policy.drift_report_days, now),
                  nothing_protected, dry),
            sweep("evaluation_plots", listed(reports / "evaluation", "*.png"), cutoff(policy.evaluation_plot_days, now),
                  nothing_protected, dry),
            sweep("reference_samples", listed(reports / "reference", "*.parquet"),
                  cutoff(policy.reference_sample_days, now), _current_sample(reference), dry),
            _step_outputs(context.instance, resources.storage.root / "assets", cutoff(policy.step_output_days, now),
                          dry),
        ]
        predictions_before = cutoff(policy.prediction_days, now)
        if predictions_before is not None:  # a challenger's decision reads the store since it was set
            predictions_before = min(predictions_before, now - (spec.promotion.max_hours + 1) * HOUR)
        waiting = {f.path.name.removesuffix(CLOSED_SUFFIX) for f in pending}
        swept += sweep_predictions(PredictionStore(loop_storage.predictions_path), predictions_before, waiting, dry)
        registry = resources.mlflow_tracking.registry(spec.name)
        needed = needed_versions(context.instance, model, registry, reference, policy.rollback_depth)
        versions, left = prune_registry(registry, needed, policy.model_versions, dry)
        home = resources.bento_store.home_path
        swept += [versions, prune_models(home, spec.name, left, dry), prune_bentos(home, spec.name, needed, policy.bentos, dry),
                  sweep_archives(root / "bentos" / spec.name, needed, policy.bentos, dry)]
        for outcome in swept:
            context.log.info(f"{outcome.kind}: {outcome.metadata()}")
        return dg.MaterializeResult(metadata=report_metadata(swept, policy, dry))

    return retention_report


def _landed(context, model: ModelScope, storage: PlatformStorage, before: float | None, dry: bool) -> Swept:
    """Landed batch files, only under the storage root: a folder source elsewhere is the user's own data."""
    spec = model.spec()
    folder = storage.landing_dir(spec)
    files = listed(folder, spec.landing_pattern)
    if not str(folder).startswith(str(storage.root / "landing")):
        return sweep("landed_files", files, before, lambda _: "a folder source outside the storage root", dry)
    old = [f for f in files if before is not None and f.modified < before]
    return sweep("landed_files", files, before, landed_protection(context.instance, model, old), dry)


def _step_outputs(instance: dg.DagsterInstance, assets: UPath, before: float | None, dry: bool) -> Swept:
    """Runs' step outputs (`assets/<run id>/<step>/<output>`, e.g. the search's scores): a run re-executed
    from failure reads its parent's, so a run not finished keeps its own whatever their age. They are the
    code location's, not one model's: the first model's sweep takes them, the others find them gone."""
    runs = {folder.name: listed_tree(folder) for folder in subfolders(assets) if RUN_FOLDER.match(folder.name)}
    running = {run_id for run_id in runs if (run := instance.get_run_by_id(run_id)) and not run.is_finished}
    owner = {str(item.path): run_id for run_id, items in runs.items() for item in items}
    swept = sweep("step_outputs", [item for items in runs.values() for item in items], before,
                  lambda item: RUN_NOT_FINISHED if owner[str(item.path)] in running else None, dry)
    if not dry:
        for run_id in set(runs) - running:
            remove_empty_folders(assets / run_id)
    return swept


def _current_sample(reference: dict | None):
    name = str(reference.get("sample_path", "")).rsplit("/", 1)[-1] if reference else ""
    return lambda listed_file: CURRENT_REFERENCE if name and listed_file.path.name == name else None


def retention_schedule(model: ModelScope) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name=model.named("daily_retention"), target=model.selection("retention_report"), cron_schedule="30 3 * * *",
        execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING, tags=model.tags,
        description="Applies the retention policy once a day, at a quiet hour.")
