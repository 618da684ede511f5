"""End-to-end loop latency with the real daemon: a drifted batch lands -> a new champion's Bento is built.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/loop_latency.py`. Everything lives in a temporary
directory: `make run`'s first pass trains the champion, then `dagster dev` (webserver + daemon, default
sensor intervals; the loop's sensors started once) runs the loop on its own while this script only lands
the batch and watches.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

import dagster as dg  # noqa: E402

from benchmarks.service_process import free_port  # noqa: E402
from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources  # noqa: E402
from ml_platform.quickstart import run_platform  # noqa: E402
from ml_platform.simulate import land_drifted_batch  # noqa: E402

LOCATION = '''
import os
from ml_platform.definitions import build_defs, platform_resources
from ml_platform.loop_resources import loop_resources
root = os.environ["LOOP_LATENCY_ROOT"]
defs = build_defs({{**platform_resources(**{paths!r}), **loop_resources(
    root + "/data", inference_log_dir=root + "/inference_log", labels_dir=root + "/labels")}})
'''


def paths(root: Path) -> dict[str, str]:
    return {"spec_path": str(PROJECT_DIR / "datasets" / "customer_segmentation.yaml"), "data_dir": str(root / "data"),
            "tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "artifact_root": str(root / "artifacts"),
            "bentoml_home": str(root / "bentoml")}


def wait_for_champion(instance: dg.DagsterInstance, version: str, timeout: float) -> float | None:
    """Seconds until a `bento` materialization carries the champion `version`, or None on timeout."""
    start = time.time()
    while time.time() - start < timeout:
        event = instance.get_latest_materialization_event(dg.AssetKey("bento"))
        meta = event.asset_materialization.metadata if event else {}
        if "champion_version" in meta and str(meta["champion_version"].value) == version:
            return event.timestamp
        time.sleep(1)
    return None


def stage_times(instance: dg.DagsterInstance, since: float) -> list[str]:
    lines = []
    for record in sorted(instance.get_run_records(), key=lambda r: r.create_timestamp.timestamp()):
        created = record.create_timestamp.timestamp()
        if created < since:
            continue
        end = record.end_time or time.time()
        lines.append(f"  {record.dagster_run.job_name:14s} {record.dagster_run.status.value:8s} "
                     f"requested +{created - since:5.1f}s  finished +{end - since:5.1f}s  "
                     f"trigger={record.dagster_run.tags.get('ml_platform/trigger', '-')}")
    return lines


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="loop-latency-"))
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    (root / "location.py").write_text(LOCATION.format(paths=paths(root)))
    env = {**os.environ, "DAGSTER_HOME": str(home), "LOOP_LATENCY_ROOT": str(root), "PYTHONPATH": str(PROJECT_DIR),
           "BENTOML_HOME": str(root / "bentoml"), "BENTOML_DO_NOT_TRACK": "True", "DAGSTER_DISABLE_TELEMETRY": "1"}
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "BENTOML_HOME")})
    defs = build_defs(platform_resources(**paths(root)))
    with dg.DagsterInstance.get() as instance:
        print(f"first pass (make run) in {root} ...", flush=True)
        assert run_platform(defs, instance) == [], "the first pass failed"
        champion = defs.resources["mlflow_tracking"].registry(defs.resources["dataset"].load().name).champion_version()
        subprocess.run([sys.executable, "-m", "dagster", "sensor", "start", "--start-all", "-f", str(root / "location.py")],
                       env=env, cwd=root, check=True, capture_output=True)
        server = subprocess.Popen([sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(free_port()),
                                   "-f", str(root / "location.py")], env=env, cwd=root, start_new_session=True,
                                  stdout=open(root / "dagster_dev.log", "w"), stderr=subprocess.STDOUT)
        try:
            time.sleep(45)  # the daemon's first ticks see only the batches the first pass ingested
            landed_at = time.time()
            path = land_drifted_batch(defs.resources["dataset"].load(), defs.resources["storage"].landing_dir(
                defs.resources["dataset"].load()))
            print(f"landed {path.name}; waiting for champion v{int(champion) + 1} ...", flush=True)
            built_at = wait_for_champion(instance, str(int(champion) + 1), timeout=900)
            print("\n".join(stage_times(instance, landed_at)))
            if built_at is None:
                print("no new champion within 900 s; see", root / "dagster_dev.log")
            else:
                print(f"drifted batch landed -> new champion's Bento built: {built_at - landed_at:.1f} s")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
