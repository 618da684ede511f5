import dagster as dg
import pandas as pd
from upath import UPath

from ml_platform.lib.landing import batch_path, file_sha256
from ml_platform.model_scope import ModelScope
from ml_platform.resources import MlflowTracking, PlatformStorage


def scoring_files(model: ModelScope) -> dg.DynamicPartitionsDefinition:
    """One dynamic partition per dropped file to score, keyed by the file's name."""
    return dg.DynamicPartitionsDefinition(name=model.named("scoring_files"))


def scoring_dir(storage: PlatformStorage, spec) -> UPath:
    """Where files to score are dropped: `<storage>/scoring/<dataset>/`, beside the landing folder."""
    return storage.root / "scoring" / spec.name


def predictions_asset(model: ModelScope) -> dg.AssetsDefinition:
    @dg.asset(
        key=model.key("predictions"),
        partitions_def=scoring_files(model),
        group_name=model.named("scoring"),
        kinds={"pandas", "bentoml"},
        io_manager_key="parquet_io_manager",
        owners=["team:ml-platform"],
        code_version="1",
    )
    def predictions(context: dg.AssetExecutionContext, storage: PlatformStorage,
                    mlflow_tracking: MlflowTracking) -> dg.Output[pd.DataFrame]:
        """A dropped file of unlabelled records scored by the champion, one row per record, as Parquet.

        The same path as the service: its request type, the shared features function and the champion
        from the artifact store, checked against the registry's sha256 as a Bento pod loads it, so the
        answers are the ones the service would give. Rows the service would refuse are counted by reason.
        """
        from ml_platform.lib.batch_scoring import read_unlabelled, score
        from ml_platform.lib.served_model import from_registry

        spec = model.spec()
        path = batch_path(scoring_dir(storage.scoped(model), spec), context.partition_key)
        registry = mlflow_tracking.registry(spec.name)
        version, tags = registry.alias_tags("champion")
        if version is None:
            raise dg.Failure("no champion to score with: run `retrain` first")
        digest = file_sha256(path)
        scored = score(spec, read_unlabelled(path, spec), from_registry(registry, version, tags, spec),
                       id_prefix=digest[:16])
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

    return predictions
