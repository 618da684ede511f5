"""SIGKILL in the middle of training or of promotion: the champion is unchanged everywhere, a re-run works."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ml_platform.lib import model_store
from ml_platform.quickstart import run_platform


def retrain_in_subprocess(platform, pause_at: str, ready: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ml_platform_tests.faults.retrain_process", "--root", str(platform.root),
         "--spec", str(platform.spec_path), "--dagster-home", str(platform.root / "dagster_home"),
         "--ready", str(ready), "--pause-at", pause_at],
        cwd=Path(__file__).resolve().parents[2], start_new_session=True)


def stored_versions(platform) -> set[str]:
    return {m.info.labels["mlflow_version"]
            for m in model_store.list_versions(platform.bentoml_home, platform.spec.name)}


def half_written_files(platform) -> list[Path]:
    return [p for p in (platform.root / "data").rglob("*") if p.name.endswith(".tmp")]


def kill_at(platform, pause_at: str, ready: Path) -> None:
    process = retrain_in_subprocess(platform, pause_at, ready)
    deadline = time.monotonic() + 240
    while not ready.exists():
        assert process.poll() is None, f"the retrain process ended before reaching {pause_at}"
        assert time.monotonic() < deadline, f"the retrain process never reached {pause_at}"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def test_sigkill_mid_fit_and_mid_promotion_leave_the_champion_and_a_rerun_succeeds(make_platform, tmp_path):
    platform = make_platform()
    assert run_platform(platform.defs, platform.instance) == []
    champion, stored = platform.registry.champion_version(), stored_versions(platform)
    for pause_at in ("fit", "set_champion"):
        kill_at(platform, pause_at, tmp_path / f"ready-{pause_at}")
        assert platform.registry.champion_version() == champion, pause_at
        assert stored_versions(platform) == stored, pause_at
        assert half_written_files(platform) == [], pause_at

    done = tmp_path / "rerun"
    rerun = retrain_in_subprocess(platform, "none", done)
    assert rerun.wait(timeout=300) == 0 and done.read_text() == "done"
    assert platform.registry.champion_version() in stored_versions(platform)
