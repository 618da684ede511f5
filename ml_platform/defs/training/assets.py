import dagster as dg
import pandas as pd

from ml_platform.defs.policy import TRANSIENT_RETRY
from ml_platform.defs.training.window import window_from_records
from ml_platform.lib.bounded_metadata import bounded_dict, bounded_list
from ml_platform.lib.run_cost import RunCost
from ml_platform.lib.training_set import (SPLIT, build_training_set, content_version, sample_share,
                                          training_columns)
from ml_platform.model_scope import ModelScope


def training_set_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("training_set"),
        group_name=model.named("training"),
        kinds={"pandas", "sklearn"},
        io_manager_key="parquet_io_manager",
        owners=["team:ml-platform"],
        code_version="3",
        retry_policy=TRANSIENT_RETRY,
        pool=model.named("retrain"),  # with run granularity (dagster.yaml): at most one run holding a retrain's steps at a time
        deps=[model.key("features"), model.key("rejected_rows")],  # read by this step itself: only the window's partitions and columns
        required_resource_keys={"parquet_io_manager"},  # the IO manager `features` is stored with
    )
    def training_set(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        """The newest batches' features by landing time, minus any batch over the rejection limit, split with a fixed seed.

        The window (`window_batches`, `window_rows`) is chosen from the row counts in the newest
        batches' materialization metadata, then only its partitions and the model's columns are read,
        through the `features` IO manager: the cost follows the window, never the number of batches landed.
        Landing time is the order the partitions were added, so a newly landed batch is in the retrain
        it triggered, whatever its name. Above `sample_rows`, each batch gives its share of the sample as it
        is read (stratified, seeded): the step holds one batch and the sample, never the whole window.
        """
        cost, spec = RunCost(), model.spec()
        window = window_from_records(context.instance, model, spec)
        for key, reason in window.excluded.items():
            context.log.warning(f"batch {key} left out of training: {reason}")
        columns = training_columns(spec)
        io_manager = context.resources.parquet_io_manager
        frames = {key: sample_share(io_manager.load_input(dg.build_input_context(
            asset_key=model.key("features"), partition_key=key, asset_partitions_def=model.batches,
            definition_metadata={"columns": columns}, instance=context.instance)), window, spec) for key in window.batches}
        data = build_training_set(frames, window, spec)
        version = content_version(data)
        split_counts = data[SPLIT].value_counts().to_dict()
        return dg.Output(data, data_version=dg.DataVersion(version), metadata={
            "dagster/row_count": len(data),
            "data_version": version,
            "train_rows": split_counts.get("train", 0),
            "test_rows": split_counts.get("test", 0),
            "batches": dg.MetadataValue.json(window.batches),  # at most `window_batches`
            "partitions_read": len(frames),
            "window_rows": window.rows,
            "sampled_to_rows": window.sample_rows or 0,
            "sample_rows": min(window.rows, spec.training.sample_rows),  # the budget `sample_share` drew each batch's share of
            **bounded_list("landing_order", window.landing_order),  # the batches looked at, newest last
            **bounded_dict("excluded_batches", window.excluded),
            "class_balance": dg.MetadataValue.json(data[spec.target.name].value_counts().to_dict()),
            **cost.metadata(),
        })

    return training_set
