"""The code location loads, and its graph is the one the README describes."""

import subprocess
import sys

import dagster as dg

from ml_platform.definitions import PROJECT_DIR

ASSETS = {"raw_data", "validated_data", "rejected_rows", "features", "training_set", "trained_model",
          "evaluation_report", "drift_report", "promoted_model", "bento", "reference_profile",
          "live_performance", "predictions"}
LIVE_PROMOTION = {"promotion_decision", "model_alias_history"}  # the challenger's judge and the alias journal
MAINTENANCE = {"retention_report"}  # the retention policy, carried out daily


def test_graph_has_every_asset_with_its_lineage(make_platform):
    defs = make_platform().defs
    graph = defs.resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == ASSETS | LIVE_PROMOTION | MAINTENANCE

    def parents(asset):
        return {k.to_user_string() for k in graph.get(dg.AssetKey(asset)).parent_keys}

    assert parents("validated_data") == {"raw_data"}
    assert parents("features") == {"validated_data"}
    assert parents("training_set") == {"features", "rejected_rows"}
    assert parents("trained_model") == {"training_set"}
    assert parents("evaluation_report") == {"training_set", "trained_model"}
    assert parents("promoted_model") == {"evaluation_report", "trained_model"}
    assert parents("bento") == {"promoted_model"}
    assert parents("drift_report") == {"features", "reference_profile"}
    assert parents("reference_profile") == {"training_set", "promoted_model"}
    assert parents("predictions") == set()  # scores dropped files with the champion of the moment
    assert "score_file" in {j.name for j in defs.resolve_all_job_defs()}
    assert {j.name for j in defs.resolve_all_job_defs()} >= {"ingest_batch", "monitor_batch", "retrain",
                                                              "process_batch", "track_performance",
                                                              "decide_promotion"}


def test_workspace_loads_with_the_dagster_cli(tmp_path):
    """What `make ui` loads: workspace.yaml and the module it names, in a fresh process."""
    env = {"DAGSTER_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "ML_PLATFORM_DATASET": "x",
           "ML_PLATFORM_STORAGE": "x", "MLFLOW_TRACKING_URI": "x", "MLFLOW_ARTIFACTS_DESTINATION": "x",
           "BENTOML_HOME": "x", "ML_PLATFORM_ALERT_WEBHOOK": "", "ML_PLATFORM_PUSHGATEWAY_URL": ""}
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_environment_chooses_the_executor_and_the_sensors(monkeypatch):
    """The switches deploy/README.md tells an operator to set in the user-code deployment's env."""
    from dagster_k8s import k8s_job_executor

    from ml_platform.definitions import defs

    monkeypatch.setenv("ML_PLATFORM_EXECUTOR", "k8s")
    monkeypatch.setenv("ML_PLATFORM_SENSORS", "off")
    chosen = defs()
    assert chosen.executor is k8s_job_executor and not chosen.sensors
    monkeypatch.setenv("ML_PLATFORM_EXECUTOR", "in_process")
    assert defs().executor is dg.in_process_executor
    monkeypatch.delenv("ML_PLATFORM_EXECUTOR")
    monkeypatch.delenv("ML_PLATFORM_SENSORS")
    default = defs()
    assert default.executor is dg.multiprocess_executor and default.sensors
