"""Asset values as files under one base path: tables as Parquet, small records as JSON.

Built on Dagster's UPathIOManager, so a partitioned asset gets one file per batch, a downstream asset
can read every batch at once, and the base path is the storage root (a folder, or s3://... in
production). A value is written whole (`storage.write_atomic`), so a killed run never leaves half a file.
"""

from __future__ import annotations

import io
import json
from typing import Any

import dagster as dg
import pandas as pd
from upath import UPath

from ml_platform.lib.landing import check_batch_key
from ml_platform.lib.storage import storage_path, write_atomic
from ml_platform.lib.validation import BatchError


class _AllBatchesIOManager(dg.UPathIOManager):
    """Batch keys become file names, never paths; an unpartitioned step gets {batch: value}, even for one batch.

    UPathIOManager returns the bare value when exactly one partition exists, which would hand
    `training_set` a DataFrame instead of a dict on a platform with a single landed batch. A batch that
    was never stored (its ingestion failed, or its key is refused) is skipped when the input allows it.
    """

    def get_path_for_partition(self, context: dg.InputContext | dg.OutputContext, path: UPath,
                               partition: str) -> UPath:
        return path / check_batch_key(partition)

    def load_input(self, context: dg.InputContext) -> Any:
        if context.has_asset_partitions and not context.has_partition_key:
            return self._load_batches(context)
        return super().load_input(context)

    def _load_batches(self, context: dg.InputContext) -> dict[str, Any]:
        skip_missing = (context.definition_metadata or {}).get("allow_missing_partitions", False)
        asset_path, values = self._get_path_without_extension(context), {}
        for key in context.asset_partition_keys:
            try:
                values[key] = self.load_from_path(context, self._with_extension(
                    self.get_path_for_partition(context, asset_path, key)))
            except (FileNotFoundError, BatchError) as exc:
                if not skip_missing:
                    raise
                context.log.warning(f"batch {key!r} skipped: {exc}")
        return values


class _ParquetIOManager(_AllBatchesIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        buffer = io.BytesIO()
        obj.to_parquet(buffer, index=False)
        write_atomic(path, buffer.getvalue())

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        """Only the input's `columns` when it names them: Parquet reads just those column chunks."""
        columns = (context.definition_metadata or {}).get("columns")
        with path.open("rb") as f:
            return pd.read_parquet(f, columns=list(columns) if columns else None)


class _JsonIOManager(_AllBatchesIOManager):
    extension = ".json"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        write_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return json.loads(path.read_text())


class ParquetIOManager(dg.ConfigurableIOManagerFactory):
    base_dir: str

    def create_io_manager(self, context) -> _ParquetIOManager:
        return _ParquetIOManager(base_path=storage_path(self.base_dir) / "assets")


class JsonIOManager(dg.ConfigurableIOManagerFactory):
    base_dir: str

    def create_io_manager(self, context) -> _JsonIOManager:
        return _JsonIOManager(base_path=storage_path(self.base_dir) / "assets")
