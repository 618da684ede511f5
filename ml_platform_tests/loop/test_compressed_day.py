"""A deployment's day, compressed to minutes: the real `dagster-daemon`, two Bento replicas under steady
traffic, labels arriving every half second, logs rotated every 2 s and served traffic landed every minute.

What must hold for months must already hold here: each `live_performance` run reads only the store files
that arrived since the last one (each file once over the day, counted by the run itself) and needs no
more memory at the day's end than at its start (`lib/run_cost.py`); no run fails (read before the daemon
stops: stopping it interrupts the runs in flight); served traffic lands as batches and is processed.
Run and tick times are printed, not asserted: on a shared CI machine they measure the other tests' load
(`benchmarks/history.py` measures them at 1x/10x/100x history).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef
from dagster._core.scheduler.instigation import InstigatorType

from benchmarks import service_process
from ml_platform.definitions import ENV, PROJECT_DIR
from ml_platform.lib.storage import STORAGE_ENV, files_in
from ml_platform.quickstart import land_default_batches
from ml_platform_tests.conftest import new_platform
from ml_platform_tests.serving.replicas import Replica, Traffic

DAY_SECONDS = 180  # three minutes of traffic: a served batch a minute, a consumer tick and a run every 30 s
EDGE = 2  # runs compared at each end of the day


def true_label(answer: dict) -> str:
    """Nine answers in ten are right, so live accuracy holds above the spec's minimum and nothing retrains
    mid-measurement; the tenth is another class, fixed by the record id."""
    if zlib.crc32(answer["record_id"].encode()) % 10:
        return answer["label"]
    return "luxury" if answer["label"] != "luxury" else "budget"


def start_daemon(platform, home: Path) -> tuple[subprocess.Popen, Path]:
    workspace = platform.root / "workspace.yaml"
    workspace.write_text(f"load_from:\n  - python_module:\n      module_name: ml_platform_tests.loop.day_location\n"
                         f"      location_name: ml_platform\n      working_directory: {PROJECT_DIR}\n")
    tracking = platform.resources["mlflow_tracking"]
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(PROJECT_DIR),
           ENV["spec_path"]: str(platform.spec_path), STORAGE_ENV: platform.data_root,
           ENV["tracking_uri"]: tracking.tracking_uri, ENV["artifact_root"]: tracking.artifact_root,
           ENV["bentoml_home"]: platform.bentoml_home, ENV["alert_webhook"]: "", ENV["pushgateway_url"]: ""}
    output = platform.root / "daemon.log"
    with output.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(workspace)],
                                   cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return process, output


def stop_daemon(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def tick_seconds(instance: dg.DagsterInstance, sensor: str, began: float, ended: float) -> list[float]:
    """How long each tick of `sensor` took, of those that started while traffic flowed."""
    [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
               if s.instigator_name == sensor]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=10_000)
    return [t.end_timestamp - t.timestamp for t in sorted(ticks, key=lambda t: t.timestamp)
            if t.end_timestamp and began <= t.timestamp <= ended]


def run_costs(instance: dg.DagsterInstance, asset: str) -> list[dict]:
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=10_000, ascending=True).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


def served_batch_runs(instance: dg.DagsterInstance) -> list[dg.RunRecord]:
    """Runs of landed served traffic (`process_batch` once a champion exists), oldest first."""
    records = instance.get_run_records(dg.RunsFilter(job_name="process_batch"), ascending=True)
    return [r for r in records if r.dagster_run.tags.get("dagster/partition", "").startswith("served-")]


def served_batch_processed(instance: dg.DagsterInstance) -> bool:
    return any(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in served_batch_runs(instance))


def test_a_compressed_day_costs_the_same_at_its_end_as_at_its_start(tmp_path):
    platform = new_platform(tmp_path / "day")
    for landed in land_default_batches(platform.spec, platform.resources["storage"]):
        assert platform.ingest(landed.name).success
    assert platform.retrain().success and platform.registry.champion_version() == "1"
    platform.instance.dispose()
    home = platform.root / "dagster_home"
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")  # the embedded default, as `make dev` runs

    data = Path(platform.data_root)
    replicas = [Replica(platform, host, data / "inference_log", tmp_path / f"spool-{host}", workers=1)
                for host in ("replica-a", "replica-b")]
    daemon, daemon_log = start_daemon(platform, home)
    traffic = Traffic(replicas, data / "labels", platform.spec.target.classes, pause=0.1, label_for=true_label,
                      distinct_rows=60_000)
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait()
        traffic.start()
        began, ends = time.time(), time.monotonic() + DAY_SECONDS
        while time.monotonic() < ends:
            assert daemon.poll() is None, f"the daemon exited: see {daemon_log}"
            time.sleep(5)
        traffic.finish()
        ended = time.time()
        with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            # A minute's batch is sealed 2 minutes after it ends, then queued behind the loop's other runs:
            # on a CI machine that also runs another test, that can take minutes.
            deadline = time.monotonic() + 300
            while not served_batch_processed(instance) and time.monotonic() < deadline:
                time.sleep(5)
            # Read while the daemon runs: stopping it interrupts the runs in flight, which then fail.
            failed = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            runs = run_costs(instance, "live_performance")
            processed = served_batch_processed(instance)
            batch_runs = [(r.dagster_run.tags.get("dagster/partition"), r.dagster_run.status.value)
                          for r in served_batch_runs(instance)]
            ticks = tick_seconds(instance, "inference_log_sensor", began, ended)
    finally:
        traffic.finish()
        codes = {replica.host: service_process.stop(replica.process, timeout=60) for replica in replicas
                 if replica.process}
        stop_daemon(daemon)

    assert not failed, f"runs failed: {[(r.job_name, r.run_id) for r in failed]}; see {daemon_log}"
    print(f"{len(traffic.answers)} records answered; {len(ticks)} consumer ticks (s): {[round(t, 2) for t in ticks]}")
    store_files = len(list((data / "predictions").rglob("date=*/hour=*/*.parquet")))
    print(f"live_performance runs (s, MiB, store files read, labelled) over a store of {store_files} files:",
          [(r["cost_seconds"], r["peak_rss_mib"], r["store_files_read"], r["labelled_total"]) for r in runs])
    assert all(code in (0, -signal.SIGINT) for code in codes.values()), f"replicas stopped cleanly: {codes}"
    assert len(traffic.answers) > 2_000
    landed = [path.name for path in files_in(data / "landing" / platform.spec.name, "served-*.csv")]
    assert processed and landed, f"served traffic landed: batches {landed}, their runs {batch_runs}"
    assert len(runs) >= 2 * EDGE + 1 and len(ticks) >= 4, "the daemon ran the loop all day"
    assert runs[-1]["labelled_total"] > runs[EDGE]["labelled_total"] > 0, "labels joined all day"
    assert not any(r["below_threshold"] for r in runs), "nine labels in ten agree: nothing to retrain on"
    # The first run reads the store as far as its window needs; every later one only what arrived since.
    assert sum(r["store_files_read"] for r in runs[1:]) <= store_files, "each store file is read once all day"
    first, last = runs[:EDGE], runs[-EDGE:]
    assert max(r["peak_rss_mib"] for r in last) <= max(r["peak_rss_mib"] for r in first) + 50, \
        "a live_performance run needs no more memory at the day's end"
