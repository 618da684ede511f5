"""Bento replicas as pods run them (a `bentoml serve` process each, with its own host name), and the
traffic they serve: clients round-robin over them, and a labeller writing each answered record's label."""

from __future__ import annotations

import itertools
import os
import random
import signal
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd

from benchmarks import service_process
from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.generator import customer_segmentation
from ml_platform.lib.inference_log_upload import SPOOL_ENV

CLIENTS, SHARED_ID_CLIENTS = 4, 2  # two clients send the same X-Request-ID sequence


class Replica:
    def __init__(self, platform, host: str, log_dir: Path, spool: Path, workers: int = 2):
        self.host, self.root, self.spool = host, platform.root, spool
        self.env = {**os.environ, "HOSTNAME": host, "PYTHONPATH": str(PROJECT_DIR), "BENTOML_DO_NOT_TRACK": "True",
                    "BENTOML_HOME": platform.bentoml_home, "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1",
                    "MLFLOW_TRACKING_URI": platform.resources["mlflow_tracking"].tracking_uri,
                    "ML_PLATFORM_SERVICE_WORKERS": str(workers), "ML_PLATFORM_INFERENCE_LOG_DIR": str(log_dir),
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

    def __init__(self, replicas: list[Replica], labels_dir: Path, classes: list[str], pause: float = 0.0,
                 label_for: Callable[[dict], str] | None = None, distinct_rows: int = 0):
        """`pause`: each client's wait between requests (0: as fast as the replicas answer); `label_for`:
        an answered record's true label from its answer (by default one drawn from its record id alone);
        `distinct_rows`: that many generated customers, each sent once (as real traffic, whose batches pass
        the duplicate-row check), instead of samples of 500."""
        self.replicas, self.labels_dir, self.classes, self.pause = replicas, labels_dir, classes, pause
        self.label_for = label_for or (lambda answer: self.label_of(answer["record_id"]))
        self.answers: list[tuple[str, str, str, float]] = []  # record_id, request_id, host, answered at
        self.pending_labels: list[tuple[str, str]] = []
        self.stop, self.clients_done, self.lock = threading.Event(), threading.Event(), threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]
        self.threads.append(threading.Thread(target=self._labeller))
        self.pool = customer_segmentation(distinct_rows or 500, seed=11).drop(columns="segment").to_dict("records")
        self.unsent = iter(self.pool) if distinct_rows else None

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
                body = self._body(rng)
                if not body:
                    return
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
                            self.pending_labels.append((prediction["record_id"], self.label_for(prediction)))
                time.sleep(self.pause)

    def _body(self, rng: random.Random) -> list[dict]:
        if self.unsent is None:
            return rng.sample(self.pool, rng.randint(1, 3))
        with self.lock:
            return list(itertools.islice(self.unsent, rng.randint(1, 3)))

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
        """Clients stop, then the labeller writes the last labels; harmless if never started or twice."""
        self.stop.set()
        for client in self.threads[:-1]:
            if client.ident is not None:
                client.join(60)
        self.clients_done.set()
        if self.threads[-1].ident is not None:
            self.threads[-1].join(60)


