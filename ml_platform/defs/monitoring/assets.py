import io
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_platform.k8s import DRIFT_OP_TAGS
from ml_platform.lib.drift import detect_drift, evidently_html
from ml_platform.lib.drift_profile import build_profile, predicted_probabilities
from ml_platform.lib.features import model_spec
from ml_platform.lib.landing import batch_path
from ml_platform.lib.plots import drift_effects_png
from ml_platform.lib.training_set import SPLIT, content_version
from ml_platform.lib.report_artifacts import kept_report, log_html_report
from ml_platform.lib.storage import storage_path, write_atomic
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking, PlatformStorage

REFERENCE_SAMPLE_ROWS = 5_000
NO_DRIFT = "no_drift"


def reference_profile_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("reference_profile"),
        ins={"training_set": dg.AssetIn(key=model.key("training_set")),
             "promoted_model": dg.AssetIn(key=model.key("promoted_model"))},
        group_name=model.named("monitoring"),
        kinds={"scipy", "bentoml"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
    )
    def reference_profile(context: dg.AssetExecutionContext, training_set: pd.DataFrame, promoted_model: dict,
                          mlflow_tracking: MlflowTracking, storage: PlatformStorage) -> dg.Output[dict]:
        """What drift is measured against, computed once per training set and champion.

        Quantiles, moments, category counts and null shares of the train split; the champion's predicted
        class probabilities on the held-out split (never the rows it was fit on, which it would predict too
        confidently); and a small sample of rows for the human-readable Evidently report.
        """
        from ml_platform.lib.registry import MODEL_SHA256_TAG

        dataset = model.spec()
        spec = model_spec(dataset)  # drift is tested on the model's inputs, derived features included
        train, held_out = training_set[training_set[SPLIT] == "train"], training_set[training_set[SPLIT] == "test"]
        registry, champion = mlflow_tracking.registry(dataset.name), promoted_model["champion_version"]
        sha256 = registry.version_tags(champion).get(MODEL_SHA256_TAG, "")
        fitted = registry.load_model(champion, sha256)  # from the artifact store: no pod shares a BentoML store
        profile = build_profile(train, spec, predicted_probabilities(fitted, held_out, spec))
        version = content_version(training_set)
        sample_path = storage.scoped(model).reports_dir("reference") / f"{version}.parquet"
        sample = io.BytesIO()
        train[spec.feature_names].sample(min(len(train), REFERENCE_SAMPLE_ROWS), random_state=0).to_parquet(sample)
        write_atomic(sample_path, sample.getvalue())
        profile.update(model={"tag": promoted_model["bento_model_tag"], "sha256": sha256, "version": champion},
                       training_set_version=version, sample_path=str(sample_path))
        context.log.info(f"profiled {len(train)} train rows and {len(held_out)} held-out predictions")
        return dg.Output(profile, data_version=dg.DataVersion(f"{version}-{promoted_model['champion_version']}"),
                         metadata={"train_rows": len(train), "held_out_rows": len(held_out),
                                   "champion_version": promoted_model["champion_version"],
                                   "training_set_version": version})

    return reference_profile


def drift_report_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("drift_report"),
        ins={"features": dg.AssetIn(key=model.key("features")),
             "reference_profile": dg.AssetIn(key=model.key("reference_profile"))},
        partitions_def=model.batches,
        group_name=model.named("monitoring"),
        kinds={"evidently", "scipy"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
        check_specs=[dg.AssetCheckSpec(NO_DRIFT, asset=model.key("drift_report"), description=(
            "Warns (without blocking) on a drifted batch, so the partitions view shows which batches drifted."))],
        op_tags=DRIFT_OP_TAGS,
    )
    def drift_report(context: dg.AssetExecutionContext, features: pd.DataFrame, reference_profile: dict,
                     storage: PlatformStorage, mlflow_tracking: MlflowTracking):
        """This batch against the reference profile: per-column tests, the model's outputs, one decision.

        The decision ("drift" / "no drift") is what the retrain sensor reads; the Evidently report is for
        people and is drawn on a sample, so it never decides anything and never dominates the cost.
        """
        dataset, reports = model.spec(), storage.scoped(model).reports_dir("drift")
        spec = model_spec(dataset)  # derived features too: a bin's share often moves first
        model_info = reference_profile["model"]
        fitted = mlflow_tracking.registry(dataset.name).load_model(model_info["version"], model_info["sha256"])
        decision = detect_drift(reference_profile, features, spec, predicted_probabilities(fitted, features, spec))
        html = batch_path(reports, context.partition_key, ".html")
        effects = batch_path(reports, context.partition_key, ".effects.png")
        table, verdict = decision.table(), "drift" if decision.drift else "no drift"
        png = drift_effects_png(table, spec.thresholds.drift_min_effect, f"{context.partition_key}: {verdict}")
        with storage_path(reference_profile["sample_path"]).open("rb") as f:
            reference_sample = pd.read_parquet(f)
        with tempfile.TemporaryDirectory(prefix="drift-report-") as folder, kept_report(effects, png) as local_png:
            local = Path(folder, html.name)  # Evidently writes only to a local file
            evidently_scores = evidently_html(reference_sample, features, spec, str(local), max_rows=REFERENCE_SAMPLE_ROWS)
            write_atomic(html, local.read_bytes())
            with mlflow_tracking.run(context, dataset.name) as tracking:  # the batch's MLflow run serves the reports to a browser
                html_url = log_html_report(tracking, local, "drift", context.partition_key)
                effects_url = log_html_report(tracking, local_png, "drift")
        table["evidently_score"] = table["column"].map(evidently_scores)
        context.log.info(f"{context.partition_key}: {verdict}; drifted {decision.drifted_columns}")
        report = {"decision": verdict, "drifted_columns": decision.drifted_columns,
                  "drifted_share": decision.drifted_share, "columns": table.to_dict(orient="records"),
                  "rows": len(features), "html": str(html), "html_url": html_url, "model_version": model_info["version"]}
        yield dg.Output(report, metadata={
            "decision": verdict,
            "drifted_columns": dg.MetadataValue.json(decision.drifted_columns),
            "drifted_share": decision.drifted_share,
            "alpha_per_test": decision.alpha_per_test,
            "rows": len(features),
            "reference_model_version": model_info["version"],
            "columns": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
            "evidently_report": dg.MetadataValue.path(str(html)),
            "evidently_report_url": dg.MetadataValue.url(html_url),
            "effects": dg.MetadataValue.url(effects_url),  # the effect-size plot, a link: metadata holds no image
            "effects_file": dg.MetadataValue.path(str(effects)),
        })
        yield dg.AssetCheckResult(check_name=NO_DRIFT, passed=not decision.drift,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  description=f"drifted: {decision.drifted_columns or 'none'}")

    return drift_report
