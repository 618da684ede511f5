"""The whole graph, from landed files to a built Bento, on real Dagster, pandera, MLflow, Evidently, BentoML."""

from pathlib import Path

import bentoml
import dagster as dg
from bentoml._internal.bento import BentoStore
from mlflow import MlflowClient

from ml_platform.defs.training.config import TrainingConfig
from ml_platform.lib import model_store
from ml_platform.lib.modeling import candidates
from ml_platform.lib.report_artifacts import MLFLOW_UI
from ml_platform.lib.storage import files_in, is_remote, local_copy, storage_path
from ml_platform.model_scope import models_of
from ml_platform.quickstart import closing, run_platform, summary
from ml_platform_tests.conftest import write_spec


def latest_metadata(instance, asset, partition=None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset),
                              asset_partitions=[partition] if partition else None), limit=1).records
    assert records, f"{asset} {partition or ''} was never materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def test_make_run_materializes_everything_and_builds_the_bento(make_platform, storage_kind):
    """In the storage matrix: on s3:// every file is an object in the bucket, none is on local disk but
    the instance's own state (Dagster's and MLflow's databases, this process's BentoML home)."""
    platform = make_platform()
    failed = run_platform(platform.defs, platform.instance)
    assert failed == []
    if is_remote(platform.data_root):
        assert sorted(p.name for p in platform.root.iterdir()) == ["bentoml", "dagster_home", "mlflow.db", "spec.yaml"]
        assert len(files_in(platform.storage / "assets" / "features")) == 2
        assert files_in(platform.storage / "reports" / "evaluation")
    instance, spec = platform.instance, platform.spec
    keys = sorted(instance.get_dynamic_partitions("batches"))
    assert keys == ["batch-00001.csv", "batch-00002.csv"]

    for key in keys:
        valid = latest_metadata(instance, "validated_data", key)
        rejected = latest_metadata(instance, "rejected_rows", key)
        assert valid["rows_in"] == 800 == valid["dagster/row_count"] + rejected["dagster/row_count"]
        assert rejected["dagster/row_count"] == 16  # corrupt_share 0.02 of 800
        assert set(rejected["reason_counts"]) >= {"age: out_of_range", "income: wrong_type",
                                                 "occupation: unknown_category"}
        drift = latest_metadata(instance, "drift_report", key)
        assert drift["decision"] == "no drift"
        assert storage_path(drift["evidently_report"]).read_text().strip().lower().startswith("<!doctype html")
        assert drift["effects"].startswith(MLFLOW_UI) and drift["effects"].endswith(f"/drift/{key}.effects.png")
        assert storage_path(drift["effects_file"]).read_bytes().startswith(b"\x89PNG")

    monitored = platform.job("monitor_batch").execute_in_process(instance=instance, partition_key=keys[0])
    [no_drift] = monitored.get_asset_check_evaluations()
    assert no_drift.check_name == "no_drift" and no_drift.passed and no_drift.severity == dg.AssetCheckSeverity.WARN

    evaluation = latest_metadata(instance, "evaluation_report")
    assert evaluation["candidate_f1_macro"] > 0.6 and 0.5 < evaluation["candidate_roc_auc"] <= 1
    assert evaluation["confusion_matrix"].startswith(MLFLOW_UI) and evaluation["confusion_matrix"].endswith(".png")
    assert storage_path(evaluation["confusion_matrix_file"]).read_bytes().startswith(b"\x89PNG")
    assert evaluation["gate"] == "promote"
    assert evaluation["more_rows_would_help"].startswith(("likely: ", "unlikely: "))
    assert storage_path(evaluation["learning_curve_file"]).read_bytes().startswith(b"\x89PNG")
    trained, searched = latest_metadata(instance, "trained_model"), len(list(candidates(TrainingConfig().search_space())))
    assert trained["search_cpus"] == 1  # 1,176 training rows: in-process, below PARALLEL_FROM_ROWS
    assert trained["search_fits"] == (searched + 1) * spec.training.cv_folds  # + the winner on a third, for its curve
    assert [point["rows"] for point in trained["learning_curve"]] == [392, 1176]  # too few rows to halve

    promoted = latest_metadata(instance, "promoted_model")
    assert platform.registry.champion_version() == promoted["champion_version"] == "1"
    stored = model_store.find(platform.bentoml_home, promoted["bento_model_tag"])
    assert stored.info.labels["mlflow_version"] == "1"
    assert stored.info.labels["data_version"] == platform.registry.version_tags("1")["data_version"]
    model = model_store.load_verified(stored.path, stored.info.metadata["sha256"])
    assert set(model.classes_) == set(spec.target.classes)

    bento = latest_metadata(instance, "bento")
    assert Path(bento["bento_path"], "bento.yaml").exists()
    assert promoted["bento_model_tag"] in Path(bento["bento_path"], "bento.yaml").read_text()
    archive = storage_path(bento["bento_archive"])  # what an image build starts from, in the storage root
    assert str(archive).startswith(str(platform.storage / "bentos")) and archive.stat().st_size > 10_000
    with local_copy(archive) as local:
        imported = bentoml.import_bento(str(local), _bento_store=BentoStore(str(platform.root / "imported")))
    assert str(imported.tag) == bento["bento_tag"]

    client = MlflowClient(platform.resources["mlflow_tracking"].tracking_uri)
    runs = client.search_runs(client.get_experiment_by_name(spec.name).experiment_id)
    assert all(r.info.status == "FINISHED" for r in runs), [r.info.status for r in runs]
    drift_runs = [r for r in runs if r.data.tags.get("dagster_asset") == "drift_report"]
    assert {r.data.tags["batch"] for r in drift_runs} == set(keys), "a run per checked batch, its report attached"
    for run in drift_runs:  # the effect-size plot its metadata links to
        assert f"drift/{run.data.tags['batch']}.effects.png" in {
            a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    runs = [r for r in runs if r not in drift_runs]
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parent) == 1 and len(runs) == 1 + searched  # one nested run per candidate of the default search
    assert parent[0].data.params["data_version"] == stored.info.labels["data_version"]

    [model] = models_of(platform.defs)
    text = "\n".join(summary(instance, model) + closing(failed, [model]))
    assert "Champion: version 1" in text and bento["bento_tag"] in text and "All runs succeeded." in text


def test_a_second_run_with_nothing_new_does_no_work(trained_platform):
    platform = trained_platform  # after `make run`
    runs_before = len(platform.instance.get_run_records())
    assert run_platform(platform.defs, platform.instance) == []
    assert len(platform.instance.get_run_records()) == runs_before


def test_a_single_landed_batch_is_enough(make_platform, tmp_path):
    """With one batch, Dagster hands the training set a bare frame instead of {batch: frame}."""
    spec = write_spec(tmp_path / "one.yaml", source={"batches": 1, "rows_per_batch": 800})
    platform = make_platform(spec)
    assert run_platform(platform.defs, platform.instance) == []
    assert platform.registry.champion_version() == "1"
