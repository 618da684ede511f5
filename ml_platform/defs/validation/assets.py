import dagster as dg
import pandas as pd

from ml_platform.defs.validation.checks import rejected_share_check, rejected_share_within_limit
from ml_platform.lib.spec import DatasetSpec, NumericFeature
from ml_platform.lib.validation import REASON, split_valid_rejected
from ml_platform.model_scope import ModelScope


def validate_batch_assets(model: ModelScope) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=model.named("validate_batch"),
        partitions_def=model.batches,
        ins={"raw_data": dg.AssetIn(key=model.key("raw_data"))},
        outs={
            "validated_data": dg.AssetOut(
                key=model.key("validated_data"), group_name=model.named("validation"), kinds={"pandera"},
                io_manager_key="parquet_io_manager", owners=["team:ml-platform"], code_version="1",
                description="The batch's rows that pass the dataset's pandera schema, typed.",
            ),
            "rejected_rows": dg.AssetOut(
                key=model.key("rejected_rows"), group_name=model.named("validation"), kinds={"pandera"},
                io_manager_key="parquet_io_manager", owners=["team:ml-platform"], code_version="1",
                description="The batch's rows that fail the schema, as they arrived, each with its reasons.",
            ),
        },
        check_specs=[rejected_share_check(model.key("validated_data"))],
    )
    def validate_batch(context: dg.AssetExecutionContext, raw_data: pd.DataFrame):
        """Split a batch into valid and rejected rows; rows in = valid + rejected, always."""
        spec = model.spec()
        split = split_valid_rejected(raw_data, spec)
        rows_in, rejected = len(raw_data), len(split.rejected)
        share = rejected / rows_in if rows_in else 0.0
        reasons = split.reason_counts()
        context.log.info(f"{rows_in} rows in: {len(split.valid)} valid, {rejected} rejected ({share:.1%})")
        yield dg.Output(split.valid, "validated_data", metadata={
            "dagster/row_count": len(split.valid),
            "dagster/column_schema": column_schema(spec),
            "rows_in": rows_in,
            "rows_rejected": rejected,
            "rejected_share": share,
            "ignored_extra_columns": dg.MetadataValue.json(split.extra_columns),
        })
        yield dg.Output(split.rejected, "rejected_rows", metadata={
            "dagster/row_count": rejected,
            "dagster/column_schema": dg.TableSchema(columns=[
                *(dg.TableColumn(c, "string", description="as landed") for c in spec.columns),
                dg.TableColumn(REASON, "string", description="the checks the row failed, '; '-separated"),
            ]),
            "rejected_share": share,
            "reasons": dg.MetadataValue.md(_reasons_markdown(reasons)),
            "reason_counts": dg.MetadataValue.json(reasons),
        })
        yield rejected_share_within_limit(model.key("validated_data"), rows_in, rejected, spec.thresholds.max_rejected_share)

    return validate_batch


def column_schema(spec: DatasetSpec) -> dg.TableSchema:
    """The validated table's columns with the constraints pandera enforced, for the UI's schema tab."""
    columns = []
    for feature in spec.features:
        if isinstance(feature, NumericFeature):
            rules = [f"{feature.min} <= value" if feature.min is not None else "",
                     f"value <= {feature.max}" if feature.max is not None else "",
                     "whole number" if feature.integer else ""]
            kind = "float"
        elif feature.type == "timestamp":
            rules, kind = ["ISO 8601, naive means UTC"], "datetime"
        else:
            rules, kind = [f"one of {feature.categories}"], "string"
        constraints = dg.TableColumnConstraints(nullable=feature.nullable, other=[r for r in rules if r])
        columns.append(dg.TableColumn(feature.name, kind, constraints=constraints))
    target = dg.TableColumnConstraints(nullable=False, other=[f"one of {spec.target.classes}"])
    columns.append(dg.TableColumn(spec.target.name, "string", description="target", constraints=target))
    return dg.TableSchema(columns=columns)


def _reasons_markdown(reasons: dict[str, int]) -> str:
    if not reasons:
        return "No rows rejected."
    rows = "\n".join(f"| `{reason}` | {count} |" for reason, count in reasons.items())
    return f"| reason | rows |\n|---|---|\n{rows}"
