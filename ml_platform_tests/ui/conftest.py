"""`dagster dev` on a free 127.0.0.1 port with a temporary instance, and a headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from benchmarks.service_process import free_port
from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.landing import land_generated
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import write_spec

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = PROJECT_DIR / "test-artifacts" / "ui"


def wait_for(url: str, seconds: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    """The UI over two landed batches, with their partitions registered, as a user would have after landing."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    spec_path = write_spec(root / "spec.yaml", source={"batches": 2, "rows_per_batch": 600})
    spec = load_spec(spec_path)
    landing = root / "data" / "landing" / spec.name
    keys = [land_generated(spec, landing, i).name for i in (1, 2)]
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        instance.add_dynamic_partitions("batches", keys)
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "ML_PLATFORM_DATASET": str(spec_path),
           "ML_PLATFORM_STORAGE": str(root / "data"), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
           "MLFLOW_ARTIFACTS_DESTINATION": str(root / "mlflow-artifacts"), "BENTOML_HOME": str(root / "bentoml"),
           "ML_PLATFORM_ALERT_WEBHOOK": "",
           # This test is the user's manual path through the UI; the closed loop has its own tests.
           "ML_PLATFORM_SENSORS": "off",
           # The steps of each run in its process: the backfill's dozen runs spawn no step processes.
           "ML_PLATFORM_EXECUTOR": "in_process"}
    with running_ui(root, port, env) as process:
        yield {"url": f"http://127.0.0.1:{port}", "home": home, "root": root, "keys": keys, "process": process}


@contextmanager
def running_ui(root: Path, port: int, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """What `make ui` runs, in a session of its own as a terminal's foreground job is; stopped on exit."""
    log = (root / "dagster-dev.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ml_platform.ui", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/server_info", 120, process)
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is not installed: `make test` installs it with apt"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
