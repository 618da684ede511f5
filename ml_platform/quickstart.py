"""`make run`: for every model, land its dataset's batches, materialize its whole graph on the local
instance, and summarize.

Runs go through the same jobs and the same Dagster instance as `make ui`, so everything done here is
visible in the UI afterwards. Running it again only does what is new: new batches are ingested, and a
model is retrained only when there is new data or no Bento yet. The models are the code location's
(`defs/models/`), or the one spec `ML_PLATFORM_DATASET` names.
"""

from __future__ import annotations

import os
import sys
import warnings

import dagster as dg

from ml_platform.components.platform_model import broken_models
from ml_platform.definitions import ENV, build_defs, declared_models, platform_resources
from ml_platform.lib.landing import land_generated, landed_files
from ml_platform.lib.spec import FolderSource
from ml_platform.model_scope import ModelScope, models_of

QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def land_default_batches(spec, storage) -> list:
    """Generated datasets get their configured batches on first run; a folder source is used as found."""
    landing = storage.landing_dir(spec)
    if not isinstance(spec.source, FolderSource) and not landed_files(landing):
        for index in range(1, spec.source.batches + 1):
            land_generated(spec, landing, index)
    return landed_files(landing, spec.landing_pattern)


def run_platform(defs: dg.Definitions, instance: dg.DagsterInstance, model: ModelScope | None = None) -> list[str]:
    """Ingest the model's new batches, retrain through the Bento if needed, check batches for drift;
    returns failed run ids. `model` may be left out when the definitions hold one."""
    [model] = [model] if model else models_of(defs)
    spec = model.spec()
    storage = defs.resources["storage"].scoped(model)
    keys = [f.name for f in land_default_batches(spec, storage)]
    if not keys:
        raise SystemExit(f"No batch files in {storage.landing_dir(spec)}: land a CSV or Parquet file there.")
    known = set(instance.get_dynamic_partitions(model.batches.name))
    new = [k for k in keys if k not in known]
    instance.add_dynamic_partitions(model.batches.name, new)
    ingest, monitor, retrain = (defs.resolve_job_def(model.named(n)) for n in ("ingest_batch", "monitor_batch", "retrain"))
    failed = []
    for key in new:
        result = ingest.execute_in_process(instance=instance, partition_key=key, raise_on_error=False, run_config=QUIET)
        failed += [] if result.success else [result.run_id]
    if new or _latest(instance, model.key("bento")) is None:
        result = retrain.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
        if not result.success:
            return [*failed, result.run_id]
        for key in keys:
            result = monitor.execute_in_process(instance=instance, partition_key=key, raise_on_error=False, run_config=QUIET)
            failed += [] if result.success else [result.run_id]
    return failed


def _latest(instance: dg.DagsterInstance, asset: dg.AssetKey, partition: str | None = None) -> dict | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        return None
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def summary(instance: dg.DagsterInstance, model: ModelScope) -> list[str]:
    lines = ["", f"Model {model.label} ({model.spec().name}):", "", "Batches:"]
    for key in sorted(instance.get_dynamic_partitions(model.batches.name)):
        rejected = _latest(instance, model.key("rejected_rows"), key)
        valid = _latest(instance, model.key("validated_data"), key)
        drift = _latest(instance, model.key("drift_report"), key) or {}
        if rejected is None or valid is None:
            lines.append(f"  {key}: not ingested (see the failed run in the UI)")
            continue
        lines.append(f"  {key}: {valid['rows_in']} rows landed, {valid['dagster/row_count']} valid, "
                     f"{rejected['dagster/row_count']} rejected; drift: {drift.get('decision', 'not checked')}")
        for reason, count in (rejected.get("reason_counts") or {}).items():
            lines.append(f"      rejected {count:>5}  {reason}")
    evaluation, promoted, bento = (_latest(instance, model.key(a)) for a in ("evaluation_report", "promoted_model",
                                                                             "bento"))
    if evaluation:
        metrics = ", ".join(f"{k.removeprefix('candidate_')} {v:.3f}" for k, v in evaluation.items()
                            if k.startswith("candidate_"))
        lines += ["", f"Candidate model: {metrics}", f"Gate: {evaluation['gate']}: {evaluation['gate_reason']}"]
    if promoted:
        lines.append(f"Champion: version {promoted['champion_version']} (MLflow alias 'champion'), "
                     f"BentoML model {promoted['bento_model_tag']}")
    if bento:
        lines.append(f"Bento: {bento['bento_tag']}")
    return lines


def closing(failed: list[str], models: list[ModelScope]) -> list[str]:
    serve = f"make serve MODEL={models[0].name}" if models and models[0].name else "make serve"
    lines = ["", "Failed runs: " + ", ".join(failed) if failed else "All runs succeeded.",
             "", "Open the UI:        make ui         -> http://127.0.0.1:3000",
             "Open MLflow:        make mlflow-ui  -> http://127.0.0.1:5000",
             f"Serve a champion:   {serve}  -> http://127.0.0.1:3001"]
    if len(models) > 1:
        lines.append(f"Serve every model:  make serve-all  -> http://127.0.0.1:3001 to :{3000 + len(models)}")
    return [*lines, ""]


def main() -> None:
    # A newcomer's first screen is the summary: Dagster's notes that an API is in beta are for us, not them.
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.filterwarnings("ignore", category=category)
    missing = [name for name in ENV.values() if name not in os.environ]
    if missing:
        raise SystemExit(f"Set {missing} (the Makefile sets them): run this through `make run`.")
    defs = build_defs(platform_resources(**{arg: os.environ[name] for arg, name in ENV.items()}), sensors=False,
                      models=declared_models())
    models, failed, lines = models_of(defs), [], ["", "ml_platform: summary"]
    with dg.DagsterInstance.get() as instance:
        for model in models:
            try:
                failed += run_platform(defs, instance, model)
            except SystemExit as exc:  # nothing to ingest for this model: say so, and go on with the others
                lines += ["", f"Model {model.label}: {exc}"]
                failed.append(f"{model.label} (nothing landed)")
                continue
            lines += summary(instance, model)
    broken = broken_models(defs)
    lines += [line for name, error in broken.items() for line in ("", f"Model {name}: not loaded: {error}")]
    print("\n".join(lines + closing(failed, models)))
    sys.exit(1 if failed or broken else 0)


if __name__ == "__main__":
    main()
