"""The service reads the registry's aliases in a child process (`alias_watch.py`), off the worker's GIL:
the child reports a moved alias within its interval, a follower built on it loads the new version, and
the child never outlives its parent, whether the parent closes it or is SIGKILLed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from mlflow import MlflowClient

from ml_platform.lib.alias_follower import AliasFollower
from ml_platform.lib.alias_watch import AliasWatch
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import DEFAULT_SPEC

SPEC = load_spec(DEFAULT_SPEC)


def registry_with_two_versions(tmp_path: Path) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(SPEC.name)
    for version in ("1", "2"):
        client.create_model_version(SPEC.name, source=str(tmp_path / f"v{version}"))
        client.set_model_version_tag(SPEC.name, version, "model_sha256", f"sha-{version}")
    client.set_registered_model_alias(SPEC.name, "champion", "1")
    return uri, client


def exited(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def test_the_watcher_reports_a_moved_alias_and_ends_when_its_pipe_closes(tmp_path):
    uri, client = registry_with_two_versions(tmp_path)
    watch = AliasWatch(uri, SPEC.name, ["champion", "challenger"], interval=0.2)
    reads = iter(watch)
    first = next(reads)
    niceness = int(Path(f"/proc/{watch.process.pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert niceness == 19, "the reads yield the core to the worker"
    assert first == {"aliases": {"champion": ["1", {"model_sha256": "sha-1"}], "challenger": [None, {}]}}
    client.set_registered_model_alias(SPEC.name, "champion", "2")
    deadline = time.monotonic() + 30
    while next(reads)["aliases"]["champion"][0] != "2":
        assert time.monotonic() < deadline, "the moved alias was never reported"
    watch.close()
    assert watch.process.returncode == 0


def test_a_follower_on_the_watcher_loads_the_version_the_alias_moves_to(tmp_path):
    uri, client = registry_with_two_versions(tmp_path)
    loaded = []
    follower = AliasFollower(uri, SPEC, str(tmp_path), {"champion": "champion"},
                             on_load=lambda role, model: loaded.append((role, model)),
                             on_failure=lambda *args: None, interval_seconds=0.2,
                             serving={"champion": ("1", "sha-1")}, watch_in_child=True)
    follower._load = lambda role, named, tags: f"model v{named[0]}"  # the load itself is tested elsewhere
    follower.start()
    try:
        client.set_registered_model_alias(SPEC.name, "champion", "2")
        deadline = time.monotonic() + 30
        while not loaded:
            assert time.monotonic() < deadline, "the follower never loaded v2"
            time.sleep(0.05)
        assert loaded == [("champion", "model v2")] and follower.identities["champion"] == ("2", "sha-2")
        child = follower._watch.process
    finally:
        follower.stop()
    assert child.poll() is not None, "stopping the follower ends its watcher"


def test_a_sigkilled_parent_leaves_no_watcher_behind(tmp_path):
    uri, _ = registry_with_two_versions(tmp_path)
    parent = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ml_platform.lib.alias_watch import AliasWatch\n"
         f"watch = AliasWatch({uri!r}, {SPEC.name!r}, ['champion'], 0.2)\n"
         "next(iter(watch))\nprint(watch.process.pid, flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        child = int(parent.stdout.readline())
        assert not exited(child)
        parent.kill()  # SIGKILL to the parent alone, as the OOM killer would send it
        parent.wait(timeout=30)
        deadline = time.monotonic() + 15
        while not exited(child):
            assert time.monotonic() < deadline, "the watcher outlived its SIGKILLed parent"
            time.sleep(0.1)
    finally:
        parent.kill()
