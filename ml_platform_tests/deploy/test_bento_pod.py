"""The one model path on Kubernetes, run on 127.0.0.1: a model's Bento, with exactly the env and mounts its
rendered Deployment (`bento-<model>`) gives a pod, follows a promotion and a cluster-side rollback made through the platform's
registry (a real `mlflow server`) and the object store (a real S3 server, SeaweedFS). The pod shares no
folder with the platform: only the bucket and the registry, as on a cluster."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tarfile
import threading
import time

import dagster as dg
import httpx

from benchmarks.service_process import HOST, free_port, stop, wait_until_up
from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources
from ml_platform.lib.champion_bento import champion_bento
from ml_platform.defs.model_definitions import model_definitions
from ml_platform.lib.registry import Registry
from ml_platform.model_scope import ModelScope
from ml_platform.quickstart import ENV, run_platform
from ml_platform_tests.conftest import FAST_TRAINING, write_spec
from ml_platform_tests.deploy import bento_pod
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.mlflow_server import mlflow_server
from ml_platform_tests.deploy.test_k8s_manifests import K8S, by_kind
from ml_platform_tests.object_store import S3Server

RECORD = {"age": 35, "gender": "Female", "income": 62000.0, "occupation": "Teacher", "spending_score": 55}
SLACK_SECONDS = 5.0  # a model load and a busy 2-core machine, beyond the poll interval itself


OBJECT_STORE_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION")


def code_location_env(config_map: dict, storage: str, tracking_uri: str, home) -> dict[str, str]:
    """The ConfigMap as the code location's pods (and so `kubectl exec` into them) read it: the bucket and
    MLflow's address made the test's, BENTOML_HOME the pod's own folder. No ML_PLATFORM_DATASET: the
    cluster runs the models declared under ml_platform/defs/models/."""
    assert "ML_PLATFORM_DATASET" not in config_map
    return {**config_map, "ML_PLATFORM_STORAGE": storage, "MLFLOW_ARTIFACTS_DESTINATION": f"{storage}/mlflow",
            "MLFLOW_TRACKING_URI": tracking_uri, "BENTOML_HOME": str(home)}


def export_bento(home: str, tag: str, into) -> None:
    """`make export-bento`: the image's build context."""
    into.mkdir(parents=True)
    archive = into.parent / "bento.tar"
    subprocess.run([sys.executable, "-m", "bentoml", "export", tag, str(archive)], check=True, capture_output=True,
                   env={"PATH": "/usr/bin:/bin", "BENTOML_HOME": home, "BENTOML_DO_NOT_TRACK": "True"})
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


class Follow(threading.Thread):
    """Polls the alias and the served version until both name `target`; records when each first did."""

    def __init__(self, registry: Registry, served, target: str):
        super().__init__(daemon=True)
        self.registry, self.served, self.target = registry, served, target
        self.alias_at = self.served_at = None

    def run(self) -> None:
        deadline = time.monotonic() + 600
        while self.served_at is None and time.monotonic() < deadline:
            now = time.monotonic()
            if self.alias_at is None and self.registry.champion_version() == self.target:
                self.alias_at = now
            if self.alias_at is not None and self.served() == self.target:
                self.served_at = time.monotonic()
            time.sleep(0.1)

    def lag(self) -> float:
        self.join(120)
        assert self.served_at is not None, f"the pod never served v{self.target}"
        return self.served_at - self.alias_at


def test_a_models_bento_pod_follows_a_promotion_and_a_rollback_and_logs_into_its_models_folder(
        tmp_path, s3_server: S3Server):
    objects = by_kind(build(K8S / "overlays" / "prod"))
    deployment = objects[("Deployment", "bento-customer-segmentation")]  # deploy/models.py's, one per model
    storage, token = s3_server.new_root("bento-pod"), secrets.token_hex(16)
    config_map = objects[("ConfigMap", "ml-platform-env")]["data"]
    config_map["ML_PLATFORM_STORAGE"] = storage  # the overlay's bucket made the test's, as the tracking URI is
    # The declared model, on a smaller copy of its spec so the test trains in seconds.
    model = ModelScope(str(write_spec(tmp_path / "spec.yaml", source={"batches": 2, "rows_per_batch": 800})),
                       "customer_segmentation")
    with mlflow_server(tmp_path, tmp_path / "unused-proxy-artifacts") as tracking_uri:
        location = code_location_env(config_map, storage, tracking_uri, tmp_path / "code-location-bentoml")
        resources = platform_resources(**{arg: location.get(name, "") for arg, name in ENV.items()})
        defs = build_defs(resources, models=model_definitions(model))
        (tmp_path / "dagster_home").mkdir()
        instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
        assert run_platform(defs, instance) == []
        registry = defs.resources["mlflow_tracking"].registry(model.spec().name)
        home = location["BENTOML_HOME"]
        export_bento(home, str(champion_bento(registry, home).tag), tmp_path / "image" / "bento")

        pod_secrets = {"ml-platform-secrets": {"api-token": token},
                       "ml-platform-object-store": {key: s3_server.env[key] for key in OBJECT_STORE_KEYS},
                       # The registry's `serving` identity; this server runs without auth (test_registry_auth.py
                       # checks the identity against one that does).
                       "mlflow-serving-identity": {"MLFLOW_TRACKING_USERNAME": "serving",
                                                   "MLFLOW_TRACKING_PASSWORD": token}}
        pod = deployment["spec"]["template"]["spec"]
        mounts = bento_pod.mount_volumes(pod, tmp_path / "pod", pod_secrets, tmp_path / "image" / "bento")
        env = bento_pod.pod_env(deployment, objects, mounts, tracking_uri, pod_secrets, tmp_path / "pod" / "home")
        port, log = free_port(), tmp_path / "pod.log"
        process = bento_pod.start(tmp_path / "image" / "bento", env, port, log)
        client = httpx.Client(base_url=f"http://{HOST}:{port}", headers={"Authorization": f"Bearer {token}"},
                              timeout=30)

        def served() -> str:
            return client.post("/predict", json=RECORD).raise_for_status().json()[0]["model_version"]

        try:
            wait_until_up(process, port, output=log)
            assert served() == "1"
            poll_seconds = float(env["ML_PLATFORM_RELOAD_SECONDS"])

            promotion = Follow(registry, served, "2")
            promotion.start()
            fast = {"ops": {model.named("trained_model"): FAST_TRAINING["ops"]["trained_model"]}}
            assert defs.resolve_job_def(model.named("retrain")).execute_in_process(instance=instance,
                                                                                  run_config=fast).success
            promoted_lag = promotion.lag()

            rollback = Follow(registry, served, "1")
            rollback.start()
            command = subprocess.run([sys.executable, "-m", "ml_platform.rollback", "--model", model.name], cwd=PROJECT_DIR,
                                     env={**location, **s3_server.env, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_DIR),
                                          "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path / "dagster_home")},
                                     capture_output=True, text=True, timeout=120)
            assert command.returncode == 0, command.stderr
            rolled_back_lag = rollback.lag()
        finally:
            client.close()
            stop(process)  # SIGTERM: the pod closes and uploads its open inference-log segment
            instance.dispose()
        # What the pod answered reached the model's own folder of the bucket, where its sensor reads.
        logged = defs.resources["loop_storage"].scoped(model).inference_log_path
        assert str(logged).startswith(f"{storage}/customer_segmentation/")
        assert [p for p in logged.rglob("*") if p.is_file()], f"no inference log segment under {logged}"
    print(f"alias to pod: promotion {promoted_lag:.2f} s, rollback {rolled_back_lag:.2f} s (poll {poll_seconds} s)")
    assert promoted_lag < poll_seconds + SLACK_SECONDS and rolled_back_lag < poll_seconds + SLACK_SECONDS
