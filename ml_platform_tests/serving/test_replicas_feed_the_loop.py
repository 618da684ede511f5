"""Three replicas feed the loop through one shared log; none of their answered records is lost,
duplicated or mislabelled, while one replica is restarted and another SIGKILLed.

Each replica is a separate `bentoml serve` process with two workers and its own host name, as pods on
a shared volume are, or on an object store as pods with a spool each (the killed one restarts on its
spool, as a container does). The real `inference_log_sensor` consumes the log while they write. What a
SIGKILL may lose is stated and checked: only records the killed replica answered in the moment before
the kill (still in its writer's queue); every other answered record lands exactly once, with its label.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import zlib
from collections import Counter
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd

from benchmarks import service_process
from ml_platform.defs.ingestion.served_traffic import inference_log_sensor
from ml_platform.defs.monitoring.performance import live_performance
from ml_platform.definitions import PROJECT_DIR
from ml_platform.io_managers import JsonIOManager
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.inference_log import OPEN_SUFFIX, closed_files
from ml_platform.lib.inference_log_upload import SPOOL_ENV
from ml_platform.lib.served_batches import seal, staging_dir
from ml_platform.lib.storage import files_in, storage_path
from ml_platform.loop_resources import LoopStorage, RetrainPolicy
from ml_platform.resources import PlatformStorage

CLIENTS, SHARED_ID_CLIENTS = 4, 2  # two clients send the same X-Request-ID sequence


class Replica:
    def __init__(self, platform, host: str, log_dir: Path, spool: Path):
        self.host, self.root, self.spool = host, platform.root, spool
        self.env = {**os.environ, "HOSTNAME": host, "PYTHONPATH": str(PROJECT_DIR), "BENTOML_DO_NOT_TRACK": "True",
                    "BENTOML_HOME": platform.bentoml_home, "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1",
                    "MLFLOW_TRACKING_URI": platform.resources["mlflow_tracking"].tracking_uri,
                    "ML_PLATFORM_SERVICE_WORKERS": "2", "ML_PLATFORM_INFERENCE_LOG_DIR": str(log_dir),
                    "ML_PLATFORM_INFERENCE_LOG_MAX_BYTES": "20000", "ML_PLATFORM_INFERENCE_LOG_MAX_SECONDS": "2",
                    "ML_PLATFORM_INFERENCE_LOG_LEASE_SECONDS": "4", SPOOL_ENV: str(spool)}
        self.process = None

    def start(self) -> Replica:
        """A fresh port each time: a SIGKILLed server's port may linger for a moment."""
        self.port, self.output = service_process.free_port(), self.root / f"replica-{self.host}-{time.monotonic_ns()}.log"
        self.process = service_process.start("serving.service:Classifier", self.env, self.port, self.output)
        return self

    def wait(self) -> None:
        service_process.wait_until_up(self.process, self.port, output=self.output)

    def kill(self) -> None:
        """Every process of the replica at once, arbiter and workers, as a pod's OOM kill or node loss."""
        service_process.kill_tree(self.process)

    def stop(self) -> None:
        """A clean stop: the workers drain and close their logs (with several workers, BentoML's
        arbiter itself may then exit by the SIGINT it relayed)."""
        code = service_process.stop(self.process, timeout=60)
        assert code in (0, -signal.SIGINT), f"{self.host} did not stop cleanly (exit {code}): see {self.output}"


class Traffic:
    """Clients posting 1-3 records per request round-robin over the replicas; labeller writing labels."""

    def __init__(self, replicas: list[Replica], labels_dir: Path, classes: list[str]):
        self.replicas, self.labels_dir, self.classes = replicas, labels_dir, classes
        self.answers: list[tuple[str, str, str, float]] = []  # record_id, request_id, host, answered at
        self.pending_labels: list[tuple[str, str]] = []
        self.stop, self.clients_done, self.lock = threading.Event(), threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]
        self.threads.append(threading.Thread(target=self._labeller))
        self.pool = customer_segmentation(500, seed=11).drop(columns="segment").to_dict("records")

    def label_of(self, record_id: str) -> str:
        return self.classes[zlib.crc32(record_id.encode()) % len(self.classes)]

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        with httpx.Client(timeout=10) as client:
            for sent in range(1_000_000):
                if self.stop.is_set():
                    return
                replica = self.replicas[sent % len(self.replicas)]
                request_id = f"shared-{sent}" if number < SHARED_ID_CLIENTS else f"client{number}-{sent}"
                body = rng.sample(self.pool, rng.randint(1, 3))
                try:
                    response = client.post(f"http://127.0.0.1:{replica.port}/predict", json=body,
                                           headers={"x-request-id": request_id})
                except httpx.HTTPError:
                    time.sleep(0.05)  # that replica is restarting
                    continue
                if response.status_code == 200:
                    answered = time.monotonic()
                    with self.lock:
                        for prediction in response.json():
                            assert prediction["request_id"] == request_id
                            self.answers.append((prediction["record_id"], request_id, replica.host, answered))
                            self.pending_labels.append((prediction["record_id"], self.label_of(prediction["record_id"])))

    def _labeller(self) -> None:
        for number in range(1_000_000):
            stopping = self.clients_done.is_set()  # the last flush comes after the last answer
            with self.lock:
                batch, self.pending_labels = self.pending_labels, []
            if batch:
                tmp = self.labels_dir / f"labels-{number:05d}.tmp"
                pd.DataFrame(batch, columns=["record_id", "label"]).to_csv(tmp, index=False)
                tmp.rename(tmp.with_suffix(".csv"))
            if stopping:
                return
            time.sleep(0.5)

    def start(self) -> None:
        self.labels_dir.mkdir(parents=True, exist_ok=True)
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for client in self.threads[:-1]:
            client.join(60)
        self.clients_done.set()
        self.threads[-1].join(60)


def consume(resources: dict) -> None:
    with dg.build_sensor_context(resources=resources) as context:
        inference_log_sensor(context)


def test_three_replicas_restarted_and_killed_lose_and_mislabel_nothing_they_answered(
        platform, storage_kind, storage_root, tmp_path):
    log_dir, labels_dir = storage_path(storage_root) / "inference_log", tmp_path / "labels"
    loop = LoopStorage(inference_log_dir=str(log_dir), labels_dir=str(labels_dir), label_wait_minutes=10)
    resources = {"dataset": platform.resources["dataset"], "storage": PlatformStorage(data_dir=storage_root),
                 "loop_storage": loop}
    replicas = [Replica(platform, host, log_dir, tmp_path / f"spool-{host}")
                for host in ("replica-a", "replica-b", "replica-c")]
    for replica in replicas:
        replica.start()
    for replica in replicas:
        replica.wait()
    traffic = Traffic(replicas, labels_dir, platform.spec.target.classes)
    traffic.start()
    sensor_running = threading.Event()

    def sensor() -> None:
        while not sensor_running.is_set():
            consume(resources)
            time.sleep(0.5)

    sensor_thread = threading.Thread(target=sensor, daemon=True)
    sensor_thread.start()
    try:
        time.sleep(4)
        restarted, killed, steady = replicas
        restarted.stop()  # a rolling update: SIGINT, drain, exit
        restarted.start().wait()
        time.sleep(2)
        killed_at = time.monotonic()
        killed.kill()  # every process of that replica, at once
        killed_by = time.monotonic()  # a request answered while the kill went on may be lost too
        killed.start().wait()  # the pod restarts with its name: its new workers close what the old left
        time.sleep(3)
    finally:
        traffic.finish()
        sensor_running.set()
        sensor_thread.join(60)
        codes = {replica.host: service_process.stop(replica.process, timeout=60) for replica in replicas}
    assert all(code in (0, -signal.SIGINT) for code in codes.values()), f"a clean stop of every replica: {codes}"

    consume(resources)
    assert not files_in(log_dir, f"*{OPEN_SUFFIX}"), "every writer's file was closed by its owner"
    assert not any(list(r.spool.iterdir()) for r in replicas if r.spool.exists()), "every spool uploaded"
    late = LoopStorage(inference_log_dir=str(log_dir), labels_dir=str(labels_dir), label_wait_minutes=0)
    consume({**resources, "loop_storage": late})  # records whose answer never reached a client: no label
    assert closed_files(log_dir) == []

    landing = resources["storage"].landing_dir(platform.spec)
    assert seal(landing, set(), time.time() + 86400, minutes=60) or files_in(landing, "served-*.csv")  # the hour is over
    assert files_in(staging_dir(landing)) == []
    landed = pd.concat([pd.read_csv(p.open("rb"), dtype=str) for p in files_in(landing, "served-*.csv")])
    counts = Counter(landed["record_id"])
    assert max(counts.values()) == 1, "a record lands in exactly one batch, once"
    assert (landed["segment"] == landed["record_id"].map(traffic.label_of)).all(), "each record its own label"

    answered = {record_id: (host, at) for record_id, _, host, at in traffic.answers}
    assert len(answered) == len(traffic.answers) > 500, "record ids are unique across replicas and workers"
    lost = {record_id: (host, at) for record_id, (host, at) in answered.items() if record_id not in counts}
    assert all(host == killed.host for host, _ in lost.values()), f"only the SIGKILLed replica may lose: {lost}"
    ages = sorted(killed_at - at for _, at in lost.values())
    assert all(killed_at - killed_by <= age < 1.0 for age in ages), \
        f"only what was still queued at the kill; answered {[round(a, 3) for a in ages]} s before it" \
        f" (the kill took {killed_by - killed_at:.3f} s)"
    assert set(counts) <= set(answered)

    by_request = Counter(request_id for _, request_id, _, _ in traffic.answers if request_id.startswith("shared-"))
    assert sum(1 for n in by_request.values() if n >= 2) > 20, "clients really did share request ids"

    result = dg.materialize([live_performance], resources={
        **resources, "retrain_policy": RetrainPolicy(performance_window_rows=100_000),
        "json_io_manager": JsonIOManager(base_dir=str(tmp_path / "data"))})
    metadata = result.asset_materializations_for_node("live_performance")[0].metadata
    assert metadata["labelled_total"].value == len(landed)
    assert metadata["unknown_labels"].value == len(lost)
    assert metadata["duplicate_labels"].value == 0 and metadata["conflicting_labels"].value == 0
    print(f"{storage_kind}: {len(answered)} records answered, {len(landed)} landed, {len(lost)} lost to the SIGKILL")
