"""Three replicas feed the loop through one shared log; none of their answered records is lost,
duplicated or mislabelled, while one replica is restarted and another SIGKILLed.

Each replica is a separate `bentoml serve` process with two workers and its own host name, as pods on
a shared volume are, or on an object store as pods with a spool each (the killed one restarts on its
spool, as a container does). The real `inference_log_sensor` consumes the log while they write. What a
SIGKILL may lose is stated and checked: only records the killed replica answered in the moment before
the kill (still in its writer's queue); every other answered record lands exactly once, with its label.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter

import dagster as dg
import pandas as pd

from benchmarks import service_process
from ml_platform.defs.ingestion.served_traffic import inference_log_sensor_for
from ml_platform.defs.monitoring.performance import live_performance_asset
from ml_platform.io_managers import JsonIOManager
from ml_platform.lib.inference_log import OPEN_SUFFIX, closed_files
from ml_platform.lib.served_batches import seal, staging_dir
from ml_platform.lib.storage import files_in, storage_path
from ml_platform.loop_resources import LoopStorage, RetrainPolicy
from ml_platform.model_scope import ModelScope
from ml_platform.resources import PlatformStorage
from ml_platform_tests.serving.replicas import Replica, Traffic

def consume(resources: dict) -> None:
    with dg.build_sensor_context(resources=resources) as context:
        inference_log_sensor_for(ModelScope(resources["dataset"].spec_path))(context)


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

    result = dg.materialize([live_performance_asset(ModelScope(str(platform.spec_path)))], resources={
        **resources, "retrain_policy": RetrainPolicy(performance_window_rows=100_000),
        "json_io_manager": JsonIOManager(base_dir=str(tmp_path / "data"))})
    metadata = result.asset_materializations_for_node("live_performance")[0].metadata
    assert metadata["labelled_total"].value == len(landed)
    assert metadata["unknown_labels"].value == len(lost)
    assert metadata["duplicate_labels"].value == 0 and metadata["conflicting_labels"].value == 0
    print(f"{storage_kind}: {len(answered)} records answered, {len(landed)} landed, {len(lost)} lost to the SIGKILL")
