"""Many models in one code location, each a `PlatformModel` component: the two shipped specs and one made
by the scaffolder from a CSV, side by side on one instance, each with its own names, loop and history."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import httpx
import pandas as pd
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from benchmarks import service_process
from ml_platform.components import PlatformModel
from ml_platform.components.platform_model import SPEC_ERROR, broken_models
from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources
from ml_platform.defs.promotion.alias_history import recorded_moves
from ml_platform.lib.generator import Knobs
from ml_platform.lib.champion_bento import champion_bento
from ml_platform.lib.landing import land_generated, landed_files, read_batch
from ml_platform.model_scope import ModelScope, models_of
from ml_platform.quickstart import run_platform
from ml_platform_tests.platforms import write_spec, write_wine_csv

MODELS = ["customer_segmentation", "iris", "wine"]


def declare(sandbox, tmp_path: Path) -> None:
    """The two shipped models (smaller batches) and one scaffolded from a CSV, as `make new-model` does."""
    customers = write_spec(tmp_path / "customer_segmentation.yaml", source={"batches": 2, "rows_per_batch": 800})
    iris = write_spec(tmp_path / "iris.yaml", base=PROJECT_DIR / "datasets" / "iris.yaml", source={"batches": 2})
    for name, spec in (("customer_segmentation", customers), ("iris", iris)):
        sandbox.scaffold_component(PlatformModel, defs_path=name, scaffold_params={"spec": str(spec)})
    sandbox.scaffold_component(PlatformModel, defs_path="wine", scaffold_params={
        "csv": str(write_wine_csv(tmp_path / "wine_landing")), "target": "cultivar"})


def location(models: dg.Definitions, root: Path) -> dg.Definitions:
    resources = platform_resources(spec_path="", data_dir=str(root / "data"), tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                                   artifact_root=str(root / "artifacts"), bentoml_home=str(root / "bentoml"))
    return build_defs(resources, models=models)


@pytest.fixture
def sandbox():
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    with create_defs_folder_sandbox() as built:
        yield built


def test_a_broken_spec_fails_its_model_alone_and_names_the_error(sandbox, tmp_path):
    declare(sandbox, tmp_path)
    sandbox.scaffold_component(PlatformModel, defs_path="broken", scaffold_params={"spec": str(tmp_path / "nope.yaml")})
    with sandbox.build_all_defs() as models:
        defs = location(models, tmp_path)
        graph = defs.resolve_asset_graph()
        assert [m.name for m in models_of(defs)] == MODELS, "the broken model is not declared as a model"
        broken = graph.get(dg.AssetKey(["broken", SPEC_ERROR]))
        assert "cannot read dataset spec" in broken.description and "nope.yaml" in broken.description
        assert list(broken_models(defs)) == ["broken"], "make run names it"
        for name in MODELS:  # each model's whole graph, under its own prefix, group, jobs and sensors
            keys = {k.path[1] for k in graph.get_all_asset_keys() if k.path[0] == name}
            assert {"raw_data", "training_set", "trained_model", "promoted_model", "bento", "drift_report",
                    "live_performance", "promotion_decision", "model_alias_history"} <= keys
            assert graph.get(dg.AssetKey([name, "features"])).parent_keys == {dg.AssetKey([name, "validated_data"])}
            assert graph.get(dg.AssetKey([name, "trained_model"])).group_name == f"{name}__training"
            assert defs.resolve_job_def(f"{name}__retrain")
            assert defs.get_repository_def().get_sensor_def(f"{name}__retrain_sensor")
            assert defs.get_repository_def().get_schedule_def(f"{name}__scheduled_retrain")
        pools = {frozenset(graph.get(dg.AssetKey([name, "training_set"])).pools) for name in MODELS}
        assert pools == {frozenset({f"{name}__retrain"}) for name in MODELS}, "one retrain pool per model"


def test_three_models_train_side_by_side_and_a_drift_retrains_only_its_model(sandbox, tmp_path):
    declare(sandbox, tmp_path)
    (tmp_path / "home").mkdir()
    with sandbox.build_all_defs() as models, dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        defs = location(models, tmp_path)
        scopes = {m.name: m for m in models_of(defs)}
        for scope in scopes.values():
            assert run_platform(defs, instance, scope) == [], scope.name
        tracking = defs.resources["mlflow_tracking"]
        registries = {name: tracking.registry(scope.spec().name) for name, scope in scopes.items()}
        assert {name: r.champion_version() for name, r in registries.items()} == {name: "1" for name in MODELS}
        for name, scope in scopes.items():  # each model's journal holds its own promotion only
            moves = recorded_moves(instance, history=scope.key("model_alias_history"))
            assert [(m.alias, m.to_version) for m in moves] == [("champion", "1")], name
        serve_at_once(defs, {name: scopes[name] for name in ("iris", "wine")}, registries, tmp_path)

        iris = scopes["iris"]
        drifted = land_generated(iris.spec(), defs.resources["storage"].scoped(iris).landing_dir(iris.spec()), 3,
                                 Knobs(mean_shift={"petal_length": 1.5, "petal_width": 1.5}), rows=600)
        instance.add_dynamic_partitions(iris.batches.name, [drifted.name])
        result = defs.resolve_job_def("iris__process_batch").execute_in_process(instance=instance,
                                                                                 partition_key=drifted.name)
        assert result.success
        decisions = {name: _retrain_tick(defs, instance, scope) for name, scope in scopes.items()}
        assert len(decisions["iris"].run_requests) == 1, decisions["iris"].skip_message
        assert defs.get_repository_def().get_sensor_def("iris__retrain_sensor").job_name == "iris__retrain"
        assert decisions["iris"].run_requests[0].tags["ml_platform/model"] == "iris"
        for name in ("customer_segmentation", "wine"):
            assert not decisions[name].run_requests, (name, decisions[name].skip_message)
            assert decisions[name].skip_message == "no drift and no performance drop"


def serve_at_once(defs: dg.Definitions, scopes: dict[str, ModelScope], registries: dict, tmp_path: Path) -> None:
    """Each model's champion Bento, served side by side as `make serve-all` does: each answers a record of its
    own dataset with its own classes, and logs it in its own model's inference log."""
    home, loop = defs.resources["bento_store"].home_path, defs.resources["loop_storage"]
    served = {}
    try:
        for name, scope in scopes.items():
            bento = champion_bento(registries[name], home)
            env = {**{k: v for k, v in os.environ.items() if k != "ML_PLATFORM_MODEL_TAG"}, "BENTOML_HOME": home,
                   "MLFLOW_TRACKING_URI": registries[name].tracking_uri,
                   "ML_PLATFORM_INFERENCE_LOG_DIR": str(loop.scoped(scope).inference_log_path)}
            served[name] = service_process.serve(str(bento.tag), env, output=tmp_path / f"serve-{name}.log")
        for name, scope in scopes.items():
            spec, (_, port) = scope.spec(), served[name]
            batch = landed_files(defs.resources["storage"].scoped(scope).landing_dir(spec), spec.landing_pattern)[0]
            numbers = read_batch(batch, spec)[spec.feature_names].apply(pd.to_numeric, errors="coerce").dropna()
            record = numbers[(numbers >= 0).all(axis=1)].iloc[0]  # a valid row: the landed ones may be corrupted
            inputs = {f: int(v) if float(v).is_integer() else float(v) for f, v in record.items()}
            answer = httpx.post(f"http://{service_process.HOST}:{port}/predict", json=inputs, timeout=30)
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json()[0]["label"] in spec.target.classes, name
    finally:
        for process, _ in served.values():
            service_process.stop(process)


def _retrain_tick(defs: dg.Definitions, instance: dg.DagsterInstance, scope: ModelScope):
    repository = defs.get_repository_def()
    name = scope.named("retrain_sensor")
    with dg.build_sensor_context(instance=instance, repository_def=repository, sensor_name=name,
                                 resources=defs.resources) as context:
        return repository.get_sensor_def(name).evaluate_tick(context)


def test_the_scaffolded_spec_describes_the_csv(sandbox, tmp_path):
    csv = write_wine_csv(tmp_path / "landing")
    folder = sandbox.scaffold_component(PlatformModel, defs_path="wine", scaffold_params={"csv": str(csv),
                                                                                          "target": "cultivar"})
    spec = ModelScope(str(folder / "spec.yaml")).spec()
    frame = pd.read_csv(csv)
    assert spec.name == "wine" and spec.target.classes == ["cultivar_0", "cultivar_1", "cultivar_2"]
    assert spec.feature_names == [c for c in frame.columns if c != "cultivar"]
    alcohol = next(f for f in spec.features if f.name == "alcohol")
    assert alcohol.type == "numeric" and alcohol.min <= frame["alcohol"].min() and alcohol.max >= frame["alcohol"].max()
    proline = next(f for f in spec.features if f.name == "proline")
    assert proline.integer, "whole numbers are marked as such"
    assert spec.source.path == str(csv.parent) and spec.source.pattern == "*.csv"


def test_one_models_frequent_runs_never_hold_another_models_lane(sandbox, tmp_path):
    """The real queue daemon's choice on the project's dagster.yaml: each model's frequent jobs have a lane."""
    import shutil

    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    from ml_platform_tests.loop.test_backpressure import QUEUED, STARTED, create_run

    declare(sandbox, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    with sandbox.build_all_defs() as models, dg.DagsterInstance.from_config(str(home)) as instance:
        location_of = SimpleNamespace(job=location(models, tmp_path).resolve_job_def)  # what create_run reads
        create_run(location_of, instance, "customer_segmentation__track_performance", status=STARTED)
        waiting = create_run(location_of, instance, "customer_segmentation__track_performance", status=QUEUED)
        other = create_run(location_of, instance, "iris__track_performance", status=QUEUED)
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
        chosen = daemon._get_runs_to_dequeue(instance, instance.get_concurrency_config(), None)
        assert [r.run_id for r in chosen] == [other.run_id], "iris's lane is free; customer_segmentation's is held"
        assert waiting.tags["ml_platform/lane"] == "customer_segmentation__frequent"


def test_a_models_folders_are_its_own_and_the_makefile_env_names_them(tmp_path):
    """The loop's folders of a component model sit under `<root>/<model>/`, where `make serve MODEL=` points
    the service's log (`model_env`); the shortcut's stay where they were."""
    import subprocess
    import sys

    from ml_platform.loop_resources import LoopStorage

    root = tmp_path / "data"
    loop = LoopStorage(storage_root=str(root))
    iris = loop.scoped(ModelScope("x.yaml", "iris"))
    assert (iris.inference_log_path, iris.labels_path, iris.predictions_path) == (
        root / "iris" / "inference_log", root / "iris" / "labels", root / "iris" / "predictions")
    assert loop.scoped(ModelScope("x.yaml")) is loop
    env = {k: v for k, v in os.environ.items() if k != "ML_PLATFORM_DATASET"} | {"ML_PLATFORM_STORAGE": str(root)}
    printed = subprocess.run([sys.executable, "-m", "ml_platform.model_env", "iris"], env=env, cwd=PROJECT_DIR,
                             capture_output=True, text=True, timeout=120, check=True).stdout
    assert f"export ML_PLATFORM_STORAGE=file://{root / 'iris'}" in printed and "export ML_PLATFORM_MODEL=iris" in printed
