"""The sensor daemon killed at each stage of a tick, then restarted: exactly one run per run key.

In the manner of Dagster's own sensor failure-recovery tests: each daemon iteration runs in its own
process over the same instance (QueuedRunCoordinator, as `dagster.yaml` configures), and a debug crash
flag kills it with SIGKILL right after the tick is created, the run is created, or the run is launched.
Processes are forked rather than spawned only so that each restart skips re-importing the stack; every
one still opens its own instance and loads the code location afresh.
"""

import multiprocessing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorState, InstigatorStatus, TickStatus
from dagster._core.test_utils import (SingleThreadPoolExecutor, create_test_daemon_workspace_context, freeze_time,
                                      get_crash_signals, wait_for_futures)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon import get_default_daemon_logger
from dagster._daemon.sensor import execute_sensor_iteration

from ml_platform.lib.landing import file_sha256, land_generated
from ml_platform.lib.spec import load_spec
from ml_platform_tests.conftest import write_spec

SENSOR = "new_data_sensor"
QUEUED = {"run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}}
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
daemon_processes = multiprocessing.get_context("fork")


def load_target() -> InProcessWorkspaceLoadTarget:
    origin = LoadableTargetOrigin(python_file=str(Path(__file__).with_name("crash_location.py")), attribute="defs")
    return InProcessWorkspaceLoadTarget(InProcessCodeLocationOrigin(origin, location_name="loop"))


def daemon_iteration(instance_ref, now, crash_flags):
    """One pass of the sensor daemon, in its own process, at a frozen time."""
    with dg.DagsterInstance.from_ref(instance_ref) as instance, freeze_time(now), \
            create_test_daemon_workspace_context(load_target(), instance) as workspace, \
            SingleThreadPoolExecutor() as executor:
        futures = {}
        list(execute_sensor_iteration(workspace, get_default_daemon_logger("SensorDaemon"), executor, None,
                                      sensor_tick_futures=futures, debug_crash_flags=crash_flags))
        wait_for_futures(futures)


def run_daemon(instance, now, crash_flags=None) -> int:
    process = daemon_processes.Process(target=daemon_iteration, args=[instance.get_ref(), now, crash_flags])
    process.start()
    process.join(timeout=120)
    return process.exitcode


@pytest.mark.parametrize("crash_at", ["TICK_CREATED", "RUN_CREATED", "RUN_LAUNCHED"])
def test_a_tick_killed_at_any_stage_resumes_to_exactly_one_run(crash_at, tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_LOOP_TEST_ROOT", str(tmp_path))
    spec = load_spec(write_spec(tmp_path / "spec.yaml", source={"batches": 1, "rows_per_batch": 200}))
    landed = land_generated(spec, tmp_path / "data" / "landing" / spec.name, 1)
    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home"), overrides=QUEUED) as instance, \
            create_test_daemon_workspace_context(load_target(), instance) as workspace:
        remote = next(iter(workspace.create_request_context().get_code_location_entries().values()))
        sensor = remote.code_location.get_repository("__repository__").get_sensor(SENSOR)
        instance.add_instigator_state(InstigatorState(
            sensor.get_remote_origin(), InstigatorType.SENSOR, InstigatorStatus.RUNNING))
        ticks = lambda: instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)  # noqa: E731

        assert run_daemon(instance, START, {SENSOR: {crash_at: get_crash_signals()[0]}}) != 0
        assert [t.status for t in ticks()] == [TickStatus.STARTED]
        assert instance.get_runs_count() == (0 if crash_at == "TICK_CREATED" else 1)

        assert run_daemon(instance, START + timedelta(seconds=31)) == 0
        [run] = instance.get_runs()
        assert run.tags["dagster/run_key"] == file_sha256(landed) and run.tags["dagster/sensor_name"] == SENSOR
        assert run.status == dg.DagsterRunStatus.QUEUED and run.tags["dagster/partition"] == landed.name
        assert instance.get_dynamic_partitions("batches") == [landed.name]
        assert ticks()[0].status == TickStatus.SUCCESS

        assert run_daemon(instance, START + timedelta(seconds=62)) == 0
        assert instance.get_runs_count() == 1
        assert ticks()[0].status == TickStatus.SKIPPED
