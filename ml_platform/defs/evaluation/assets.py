import dagster as dg
import pandas as pd

from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.lib.evaluation import classification_metrics, confusion_matrix_png, per_class_table
from ml_platform.lib.features import model_spec
from ml_platform.lib.learning_curve import learning_curve_png, more_rows_verdict
from ml_platform.lib.promotion import gate
from ml_platform.lib.report_artifacts import kept_report
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.training_set import SPLIT
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking, PlatformStorage


def evaluation_report_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("evaluation_report"),
        ins={"training_set": dg.AssetIn(key=model.key("training_set")),
             "trained_model": dg.AssetIn(key=model.key("trained_model"))},
        group_name=model.named("evaluation"),
        kinds={"sklearn", "mlflow"},
        io_manager_key="json_io_manager",
        owners=["team:ml-platform"],
        code_version="2",
        retry_policy=TRANSIENT_RETRY,
    )
    def evaluation_report(context: dg.AssetExecutionContext, training_set: pd.DataFrame, trained_model: dict,
                          mlflow_tracking: MlflowTracking, storage: PlatformStorage) -> dg.Output[dict]:
        """The candidate and the current champion scored on the same held-out rows, the gate's verdict, and the
        candidate's learning curve with a verdict on whether more training rows would help."""
        cost, spec, storage = RunCost(), model.spec(), storage.scoped(model)
        registry = mlflow_tracking.registry(spec.name)
        test = training_set[training_set[SPLIT] == "test"]
        x, y = test[model_spec(spec).feature_names], test[spec.target.name]  # raw and derived: the pipeline's inputs
        candidate = registry.load_model(trained_model["version"])
        predicted = candidate.predict(x)
        candidate_metrics = classification_metrics(candidate, x, y, predicted)
        champion_version = registry.champion_version()
        champion_metrics = None
        if champion_version is not None:
            champion_metrics = classification_metrics(registry.load_model(champion_version), x, y)
        decision = gate(candidate_metrics, champion_metrics, spec.thresholds)
        for name, value in candidate_metrics.items():
            registry.client.log_metric(trained_model["run_id"], f"test_{name}", value)

        png = confusion_matrix_png(candidate, y, predicted, f"{spec.name} v{trained_model['version']} (test set)")
        plot_path = storage.reports_dir("evaluation") / f"confusion_v{trained_model['version']}.png"
        with kept_report(plot_path, png) as local:
            registry.client.log_artifact(trained_model["run_id"], str(local))
        curve = trained_model.get("learning_curve") or []  # absent in a model trained before the curve existed
        curve_path = storage.reports_dir("evaluation") / f"learning_curve_v{trained_model['version']}.png"
        if curve:
            with kept_report(curve_path, learning_curve_png(curve, spec.thresholds.metric, f"{spec.name} "
                                                            f"v{trained_model['version']}: {trained_model['estimator']}")) as local:
                registry.client.log_artifact(trained_model["run_id"], str(local))
        per_class = per_class_table(candidate, y, predicted)
        comparison = pd.DataFrame({"candidate": candidate_metrics,
                                   "champion": champion_metrics or {}}).round(4).fillna("-")
        report = {
            "candidate_version": trained_model["version"],
            "candidate": candidate_metrics,
            "champion_version": champion_version,
            "champion": champion_metrics,
            "test_rows": len(test),
            "per_class": per_class.to_dict(orient="records"),
            "gate": {"promote": decision.promote, "reason": decision.reason},
            "confusion_matrix_png": str(plot_path),
            "learning_curve": curve,
            "more_rows": more_rows_verdict(curve),
        }
        context.log.info(f"gate: {'promote' if decision.promote else 'keep champion'}: {decision.reason}")
        return dg.Output(report, metadata={
            **{f"candidate_{k}": v for k, v in candidate_metrics.items()},
            "champion_version": champion_version or "none",
            "gate": "promote" if decision.promote else "keep champion",
            "gate_reason": decision.reason,
            "comparison": dg.MetadataValue.md(comparison.to_markdown()),
            "per_class": dg.MetadataValue.md(per_class.round(4).to_markdown(index=False)),
            "confusion_matrix": dg.MetadataValue.url(f"{trained_model['run_url']}/artifactPath/{plot_path.name}"),
            "confusion_matrix_file": dg.MetadataValue.path(str(plot_path)),
            "mlflow_run": dg.MetadataValue.url(trained_model["run_url"]),
            "more_rows_would_help": report["more_rows"],
            **cost.metadata(),
            **({"learning_curve": dg.MetadataValue.md(pd.DataFrame(curve).to_markdown(index=False)),
                "learning_curve_plot": dg.MetadataValue.url(f"{trained_model['run_url']}/artifactPath/{curve_path.name}"),
                "learning_curve_file": dg.MetadataValue.path(str(curve_path))} if curve else {}),
        })

    return evaluation_report
