from pathlib import Path

import dagster as dg
import pandas as pd

from ml_platform.lib.landing import batch_path, file_sha256
from ml_platform.resources import BentoStore, DatasetResource, MlflowTracking, PlatformStorage

scoring_files = dg.DynamicPartitionsDefinition(name="scoring_files")


def scoring_dir(storage: PlatformStorage, spec) -> Path:
    """Where files to score are dropped: `<data_dir>/scoring/<dataset>/`, beside the landing folder."""
    return Path(storage.data_dir).resolve() / "scoring" / spec.name


@dg.asset(
    partitions_def=scoring_files,
    group_name="scoring",
    kinds={"pandas", "bentoml"},
    io_manager_key="parquet_io_manager",
    owners=["team:ml-platform"],
    code_version="1",
)
def predictions(context: dg.AssetExecutionContext, dataset: DatasetResource, storage: PlatformStorage,
                mlflow_tracking: MlflowTracking, bento_store: BentoStore) -> dg.Output[pd.DataFrame]:
    """A dropped file of unlabelled records scored by the champion, one row per record, as Parquet.

    The same path as the service: its request type, the shared features function and the champion
    from the BentoML store (checksum verified), so the answers are the ones the service would give.
    Rows the service would refuse are counted by reason, not scored.
    """
    from ml_platform.lib import model_store
    from ml_platform.lib.batch_scoring import read_unlabelled, score
    from ml_platform.lib.served_model import from_store

    spec = dataset.load()
    path = batch_path(scoring_dir(storage, spec), context.partition_key)
    version = mlflow_tracking.registry().champion_version()
    if version is None:
        raise dg.Failure("no champion to score with: run `retrain` first")
    stored = model_store.find(bento_store.home_path, model_store.tag_for(spec.name, version))
    if stored is None:
        raise dg.Failure(f"champion v{version} is not in the BentoML store at {bento_store.home_path}")
    digest = file_sha256(path)
    scored = score(spec, read_unlabelled(path, spec), from_store(stored), id_prefix=digest[:16])
    counts = scored.predictions["label"].value_counts().to_dict()
    context.log.info(f"{context.partition_key}: {len(scored.predictions)} scored by v{version}, "
                     f"{sum(scored.refused.values())} refused; by class {counts}")
    return dg.Output(scored.predictions, data_version=dg.DataVersion(f"{digest[:16]}-v{version}"), metadata={
        "dagster/row_count": len(scored.predictions),
        "model_version": version,
        "file": dg.MetadataValue.path(str(path)),
        "sha256": digest,
        "counts_by_class": dg.MetadataValue.json(counts),
        "by_class": dg.MetadataValue.md("| class | rows |\n|---|---|\n" + "\n".join(
            f"| {label} | {count} |" for label, count in sorted(counts.items()))),
        "rows_refused": sum(scored.refused.values()),
        "refused_by_reason": dg.MetadataValue.json(scored.refused),
    })
