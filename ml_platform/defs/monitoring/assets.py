import dagster as dg
import pandas as pd

from ml_platform.defs.partitions import batches
from ml_platform.lib.drift import detect_drift, evidently_html
from ml_platform.lib.training_set import SPLIT
from ml_platform.resources import DatasetResource, PlatformStorage


@dg.asset(
    partitions_def=batches,
    group_name="monitoring",
    kinds={"evidently", "scipy"},
    io_manager_key="json_io_manager",
    owners=["team:ml-platform"],
)
def drift_report(context: dg.AssetExecutionContext, validated_data: pd.DataFrame, training_set: pd.DataFrame,
                 dataset: DatasetResource, storage: PlatformStorage) -> dg.Output[dict]:
    """This batch against the training reference: a per-column test, an effect size, and one decision.

    The decision ("drift" / "no drift") is what the drift sensor reads; the Evidently report is for people.
    """
    spec = dataset.load()
    reference = training_set[training_set[SPLIT] == "train"]
    decision = detect_drift(reference, validated_data, spec)
    html = storage.reports_dir("drift") / f"{context.partition_key}.html"
    evidently_scores = evidently_html(reference, validated_data, spec, str(html))
    table = decision.table()
    table["evidently_score"] = table["column"].map(evidently_scores)
    verdict = "drift" if decision.drift else "no drift"
    context.log.info(f"{context.partition_key}: {verdict}; drifted columns {decision.drifted_columns}")
    report = {"decision": verdict, "drifted_columns": decision.drifted_columns,
              "drifted_share": decision.drifted_share, "columns": table.to_dict(orient="records"),
              "rows": len(validated_data), "html": str(html)}
    return dg.Output(report, metadata={
        "decision": verdict,
        "drifted_columns": dg.MetadataValue.json(decision.drifted_columns),
        "drifted_share": decision.drifted_share,
        "rows": len(validated_data),
        "columns": dg.MetadataValue.md(table.round(4).to_markdown(index=False)),
        "evidently_report": dg.MetadataValue.path(str(html)),
    })
