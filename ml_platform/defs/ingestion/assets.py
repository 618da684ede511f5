import dagster as dg
import pandas as pd

from ml_platform.lib.landing import batch_path, file_sha256, read_batch
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage


def raw_data_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("raw_data"),
        partitions_def=model.batches,
        group_name=model.named("ingestion"),
        kinds={"pandas", "csv"},
        io_manager_key="parquet_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
    )
    def raw_data(context: dg.AssetExecutionContext, storage: PlatformStorage) -> dg.Output[pd.DataFrame]:
        """One landed batch file, as it arrived: cells kept as text, nothing dropped."""
        spec = model.spec()
        path = batch_path(storage.scoped(model).landing_dir(spec), context.partition_key)
        frame = read_batch(path, spec)
        digest = file_sha256(path)
        return dg.Output(
            frame,
            data_version=dg.DataVersion(digest[:16]),
            metadata={
                "dagster/row_count": len(frame),
                "file": dg.MetadataValue.path(str(path)),
                "sha256": digest,
                "bytes": path.stat().st_size,
                "columns": dg.MetadataValue.json(list(frame.columns)),
            },
        )

    return raw_data
