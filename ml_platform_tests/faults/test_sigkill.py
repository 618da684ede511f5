"""SIGKILL in training and at every boundary of promotion: the alias always names a model the store holds
and verifies (the old champion before the alias moves, the new one after), and a re-run succeeds."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from ml_platform.lib import model_store
from ml_platform.lib.promotion import verify_stored
from ml_platform_tests.faults.retrain_process import PAUSE_POINTS


def retrain_in_subprocess(platform, pause_at: str, ready: Path, logistic_c: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ml_platform_tests.faults.retrain_process", "--root", str(platform.root),
         "--spec", str(platform.spec_path), "--dagster-home", str(platform.root / "dagster_home"),
         "--ready", str(ready), "--pause-at", pause_at, "--logistic-c", str(logistic_c)],
        cwd=Path(__file__).resolve().parents[2], start_new_session=True)


def stored_versions(platform) -> set[str]:
    return {m.info.labels["mlflow_version"]
            for m in model_store.list_versions(platform.bentoml_home, platform.spec.name)}


def half_written_files(platform) -> list[Path]:
    return [p for p in (platform.root / "data").rglob("*") if p.name.endswith(".tmp")]


def kill_at(platform, pause_at: str, ready: Path, logistic_c: float) -> None:
    process = retrain_in_subprocess(platform, pause_at, ready, logistic_c)
    deadline = time.monotonic() + 240
    while not ready.exists():
        assert process.poll() is None, f"the retrain process ended before reaching {pause_at}"
        assert time.monotonic() < deadline, f"the retrain process never reached {pause_at}"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def champion_that_serves(platform) -> str:
    """The version the alias names, once the store is shown to hold it with the bytes promotion recorded."""
    champion = platform.registry.champion_version()
    verify_stored(platform.bentoml_home, model_store.tag_for(platform.spec.name, champion))
    return champion


def retry_promotion(platform) -> dg.ExecuteInProcessResult:
    """What a run retry does after a killed promotion: the promotion and the Bento again, same candidate."""
    return platform.job("retrain").execute_in_process(
        instance=platform.instance, asset_selection=[dg.AssetKey("promoted_model"), dg.AssetKey("bento")])


def test_sigkill_at_every_boundary_leaves_a_champion_that_serves_and_a_rerun_succeeds(trained_platform, tmp_path):
    platform = trained_platform
    for step, pause_at in enumerate(PAUSE_POINTS):
        champion, stored = champion_that_serves(platform), stored_versions(platform)
        # each killed retrain searches its own C: on unchanged data an identical search is no new champion
        kill_at(platform, pause_at, tmp_path / f"ready-{pause_at}", logistic_c=2.0 + step)
        now, added = champion_that_serves(platform), stored_versions(platform) - stored
        assert half_written_files(platform) == [], pause_at
        if pause_at in ("fit", "staging"):
            assert (now, added) == (champion, set()), pause_at
        elif pause_at == "alias":  # the candidate is committed but was never named champion
            assert now == champion and len(added) == 1, pause_at
            retried = retry_promotion(platform)
            assert retried.success and champion_that_serves(platform) == added.pop()
        else:
            assert now != champion and added == {now}, pause_at

        rerun = platform.retrain()
        assert rerun.success, pause_at
        assert champion_that_serves(platform) == rerun.output_for_node("promoted_model")["champion_version"]
