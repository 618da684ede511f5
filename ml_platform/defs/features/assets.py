import dagster as dg
import pandas as pd

from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.defs.validation.assets import column_schema
from ml_platform.lib.feature_stats import column_stats, stats_markdown
from ml_platform.lib.features import add_features, model_spec
from ml_platform.model_scope import ModelScope


def features_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("features"),
        ins={"validated_data": dg.AssetIn(key=model.key("validated_data"))},
        partitions_def=model.batches,
        group_name=model.named("features"),
        kinds={"pandas", "numpy"},
        io_manager_key="parquet_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
        retry_policy=TRANSIENT_RETRY,
    )
    def features(context: dg.AssetExecutionContext, validated_data: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        """The batch's model inputs: its validated rows plus the spec's derived features (bins, logs, ratios...).

        Computed by `ml_platform.lib.features.add_features`, the function the service applies to every
        request, so a feature is the same number in training and in serving. Scaling and one-hot encoding
        are fitted, so they stay in the model's pipeline.
        """
        spec = model.spec()
        frame = add_features(spec, validated_data)
        inputs = model_spec(spec)
        derived = {d.name for d in spec.derived}
        stats = column_stats(inputs, frame)
        schema = column_schema(spec).columns + [
            dg.TableColumn(f.name, "string" if f.type == "categorical" else "float",
                           description=_describe(d), constraints=dg.TableColumnConstraints(nullable=f.nullable))
            for d, f in zip(spec.derived, inputs.features[-len(spec.derived):] if spec.derived else [])]
        context.log.info(f"{context.partition_key}: {len(frame)} rows, derived {sorted(derived) or 'nothing'}")
        return dg.Output(frame, metadata={
            "dagster/row_count": len(frame),
            "dagster/column_schema": dg.TableSchema(columns=schema),
            "feature_stats": dg.MetadataValue.md(stats_markdown(stats, derived)),
            "derived_features": dg.MetadataValue.json([d.model_dump(mode="json") for d in spec.derived]),
            "model_inputs": dg.MetadataValue.json(inputs.feature_names),
            "null_cells_in_derived": sum(s["nulls"] for s in stats if s["column"] in derived),
        })

    return features


def _describe(d) -> str:
    """One line for the schema tab, from the declaration itself."""
    fields = {k: v for k, v in d.model_dump().items() if k not in ("name", "kind")}
    return f"derived: {d.kind} " + ", ".join(f"{k}={v}" for k, v in fields.items())
