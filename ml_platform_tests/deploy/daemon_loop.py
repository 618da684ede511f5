"""The daemon's loops for the failure tests: run monitoring, run retries and the run queue, one pass each.

Each pass is the real daemon's own iteration (`execute_run_monitoring_iteration`, the event log
consumer that launches run retries, the queued run daemon that hands runs to the K8sRunLauncher), on the
workspace and instance the test built from deploy/dagster-k8s.yaml. The daemon runs them on timers
(monitoring every `pollIntervalSeconds`); `DaemonLoop.until` runs them every poll interval, which the
tests shorten to one second, and counts the monitoring polls a failure took to be noticed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._daemon.auto_run_reexecution.event_log_consumer import EventLogConsumerDaemon
from dagster._daemon.monitoring.run_monitoring import execute_run_monitoring_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster_k8s.job import get_job_name_from_run_id

from ml_platform_tests.deploy.kubelet import Kubelet

LOG = logging.getLogger("ml_platform_tests.deploy.daemon")
POLL_SECONDS = 1  # deploy/ polls every 60 s; only the interval is shortened


def shorten_monitoring_poll(home: Path, **run_monitoring) -> None:
    """The test's dagster.yaml, deploy's, with a one-second monitoring poll (and any override a test names)."""
    path = home / "dagster.yaml"
    config = yaml.safe_load(path.read_text())
    config["run_monitoring"].update(poll_interval_seconds=POLL_SECONDS, **run_monitoring)
    path.write_text(yaml.safe_dump(config))


def run_job_name(run_id: str, resume_attempt: int = 0) -> str:
    return get_job_name_from_run_id(run_id, resume_attempt_number=resume_attempt)


class DaemonLoop:
    def __init__(self, context: WorkspaceProcessContext) -> None:
        self.context, self.instance = context, context.instance
        self.queue = QueuedRunCoordinatorDaemon(interval_seconds=1)
        self.retries = EventLogConsumerDaemon()
        self.polls = 0
        list(self.retries.run_iteration(context))  # a running daemon already holds its cursors

    def dequeue(self) -> None:
        list(self.queue.run_iteration(self.context))

    def tick(self) -> None:
        self.polls += 1
        list(execute_run_monitoring_iteration(self.context, LOG))
        list(self.retries.run_iteration(self.context))
        self.dequeue()

    def until(self, done, timeout: float = 240) -> tuple[int, float]:
        """Passes every poll interval until `done()`; returns the monitoring polls and seconds it took."""
        start, polls = time.monotonic(), self.polls
        while not done():
            assert time.monotonic() - start < timeout, f"not done after {self.polls - polls} polls"
            self.tick()
            time.sleep(self.instance.run_monitoring_poll_interval_seconds)
        return self.polls - polls, time.monotonic() - start

    def status(self, run_id: str) -> dg.DagsterRunStatus:
        return self.instance.get_run_by_id(run_id).status


@pytest.fixture
def run_kubelet(stand_in_api, deployment, tmp_path):
    """A kubelet that runs run Jobs as well as step Jobs, for this test only (the stand-in is shared)."""
    from ml_platform_tests.deploy.conftest import POD_SECRETS, pod_config_maps

    kubelet = Kubelet(config_maps=pod_config_maps(deployment[2]), secrets=POD_SECRETS,
                      dagster_home=tmp_path / "pod_home", components=("run_worker", "step_worker"))
    stand_in_api.kubelet = kubelet
    yield kubelet
    stand_in_api.kubelet = None
    kubelet.delete_all()
