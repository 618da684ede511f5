"""The retention asset on a fabricated history, on a folder and on S3: it removes exactly what the policy
allows, keeps everything something needs (with the reason counted), and a second run removes nothing."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from ml_platform.defs.promotion.alias_history import recorded_moves
from ml_platform.defs.retention.assets import RUN_NOT_FINISHED, retention_report_asset
from ml_platform.model_scope import ModelScope
from ml_platform.defs.retention.protected import (CURRENT_REFERENCE, IN_WINDOW, LABEL_WAIT, NOT_INGESTED,
                                                  PENDING_LABELS)
from ml_platform.defs.retention.settings import RetentionSettings
from ml_platform.lib import model_store
from ml_platform.lib.champion_bento import MODEL_TAG_LABEL
from ml_platform.lib.retention import DAY
from ml_platform_tests.conftest import write_spec
from ml_platform_tests.retention.history import (fill_registry, fill_store, model_folder, record_ingestion,
                                                 write_files)

DAYS = 30
POLICY = RetentionSettings(**{f"{kind}_days": DAYS for kind in (
    "consumed_log", "unreadable_log", "label", "landed", "drift_report", "evaluation_plot", "reference_sample",
    "prediction", "step_output")}, model_versions=2, rollback_depth=2, bentos=1)
REMOVED = {"consumed_old", "unreadable_old", "label_old", "batch-a.csv", "batch-b.csv", "drift_old", "plot_old",
           "sample_old", "partition_old", "marker_consumed", "archive_v1", "archive_v6", "step_output_old"}


@pytest.fixture
def history(make_platform, tmp_path, storage_kind, bento_template):
    platform = make_platform(write_spec(tmp_path / "spec.yaml", training={"window_batches": 2}))
    files, split = write_files(platform.storage, platform.landing, platform.spec.name)
    record_ingestion(platform.instance, platform.storage)
    artifact_root = platform.resources["mlflow_tracking"].artifact_root
    fill_registry(platform.instance, platform.registry, artifact_root)
    fill_store(platform.bentoml_home, platform.spec.name, bento_template)
    return platform, files, split, artifact_root


def run(platform, split: float) -> dict:
    now = datetime.fromtimestamp(split + DAYS * DAY, timezone.utc).isoformat()
    result = dg.materialize([retention_report_asset(ModelScope(str(platform.spec_path)))], instance=platform.instance,
                            resources={**platform.resources, "retention": POLICY},
                            run_config={"ops": {"retention_report": {"config": {"now": now}}}})
    assert result.success
    [materialization] = result.asset_materializations_for_node("retention_report")
    return {key: value.value for key, value in materialization.metadata.items()}


def stored(platform) -> tuple[set[str], set[str]]:
    from bentoml._internal.bento import BentoStore

    models = {m.info.labels["mlflow_version"] for m in model_store.list_versions(platform.bentoml_home,
                                                                                 platform.spec.name)}
    bentos = {b.info.labels[MODEL_TAG_LABEL].rsplit(":v", 1)[1]
              for b in BentoStore(f"{platform.bentoml_home}/bentos").list()}
    return models, bentos


def test_retention_removes_what_the_policy_allows_and_keeps_what_is_needed(history):
    platform, files, split, artifact_root = history
    journal = recorded_moves(platform.instance)
    report = run(platform, split)

    assert {name for name, path in files.items() if not path.exists()} == REMOVED
    assert report["refused"] == {
        "pending_logs": {LABEL_WAIT: 1}, "label_files": {PENDING_LABELS: 1},
        "landed_files": {IN_WINDOW: 2, NOT_INGESTED: 1}, "reference_samples": {CURRENT_REFERENCE: 1},
        "model_versions": {"champion": 1, "a rollback target": 2, "the drift reference's model": 1},
        "bentos": {"built for champion": 1}, "prediction_markers": {"its log file still waits to be consumed": 1},
        "bento_archives": {"built for champion": 1}, "step_outputs": {RUN_NOT_FINISHED: 1}}
    assert report["landed_files_removed"] == 2 and report["landed_files_removed_bytes"] == 200
    assert report["consumed_logs_kept"] == 1 and report["landed_files_kept"] == 4

    versions = {str(v.version) for v in platform.registry.client.search_model_versions(
        f"name='{platform.spec.name}'")}
    assert versions == {"2", "3", "4", "5", "7", "8"}  # champion 5, rollback 4 and 2, reference 3, newest 7 and 8
    assert report["model_versions_removed"] == 2 and report["model_versions_removed_bytes"] == 2000
    assert {v for v in "12345678" if (model_folder(artifact_root, v) / "model.skops").exists()} == versions
    assert stored(platform) == (versions, {"5", "7"})
    assert recorded_moves(platform.instance) == journal, "the audit trail is never touched"

    again = run(platform, split)
    assert again["removed"] == 0 and again["refused"] == report["refused"]
    assert {name for name, path in files.items() if not path.exists()} == REMOVED


def test_a_policy_that_cannot_work_is_refused_by_name():
    from ml_platform.defs.retention.settings import RetentionPolicyError

    with pytest.raises(RetentionPolicyError, match=r"retention.model_versions: Input should be greater than or equal to 1"):
        RetentionSettings(model_versions=0).policy()
    assert RetentionSettings(label_days=None).policy().label_days is None  # null: kept forever
