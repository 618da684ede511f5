"""The three ways a run starts in production, driven through Dagster's own code for each.

The UI: the GraphQL mutations the webserver's front end sends. A sensor: the sensor daemon's iteration.
A partition backfill: the backfill daemon's iteration. All of them only submit runs; the queued run
daemon's iteration then hands each run to the instance's run launcher, as the daemon does in the cluster.
"""

from __future__ import annotations

import logging
import sys

import dagster as dg
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster._daemon.backfill import execute_backfill_iteration
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._daemon.sensor import execute_sensor_iteration
from dagster_graphql.client.query import LAUNCH_PIPELINE_EXECUTION_MUTATION
from dagster_graphql.test.utils import execute_dagster_graphql

from ml_platform.definitions import PROJECT_DIR

LOCATION = "ml_platform"
LOG = logging.getLogger("ml_platform_tests.deploy")
LAUNCH_BACKFILL = """
mutation($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}"""


def workspace(instance: dg.DagsterInstance, attribute: str = "defs", container_image: str | None = None,
              container_context: dict | None = None) -> WorkspaceProcessContext:
    """The `k8s_location` code location; `attribute` picks its Definitions (`defs` or `step_pod_defs`).

    `container_image` and `container_context` are what the chart's code server reports
    (DAGSTER_CURRENT_IMAGE, DAGSTER_CONTAINER_CONTEXT): every run of the location carries them.
    """
    origin = InProcessCodeLocationOrigin(
        loadable_target_origin=LoadableTargetOrigin(
            executable_path=sys.executable, module_name="ml_platform_tests.deploy.k8s_location",
            attribute=attribute, working_directory=str(PROJECT_DIR)),
        container_image=container_image, container_context=container_context, location_name=LOCATION)
    return WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin))


def _asset_paths(keys) -> list[dict]:
    return [{"path": list(key.path)} for key in keys]


def launch_from_ui(context: WorkspaceProcessContext, asset_keys, run_config: dict, tags: dict | None = None) -> str:
    """What "Materialize" in the asset graph sends: the implicit asset job, and only the tags typed in."""
    result = execute_dagster_graphql(context.create_request_context(), LAUNCH_PIPELINE_EXECUTION_MUTATION, {
        "executionParams": {
            "selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                         "pipelineName": "__ASSET_JOB", "assetSelection": _asset_paths(asset_keys)},
            "runConfigData": run_config,
            "mode": "default",
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]},
        }})
    launched = result.data["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def launch_backfill_from_ui(context: WorkspaceProcessContext, asset_keys, partitions: list[str]) -> str:
    result = execute_dagster_graphql(context.create_request_context(), LAUNCH_BACKFILL, {
        "backfillParams": {"assetSelection": _asset_paths(asset_keys), "partitionNames": partitions}})
    launched = result.data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    list(execute_backfill_iteration(context, LOG))
    return launched["backfillId"]


def tick_sensors(context: WorkspaceProcessContext) -> None:
    list(execute_sensor_iteration(context, LOG, threadpool_executor=None, submit_threadpool_executor=None))


def dequeue(context: WorkspaceProcessContext) -> None:
    """One pass of the run queue daemon: every queued run goes to the K8sRunLauncher."""
    list(QueuedRunCoordinatorDaemon(interval_seconds=1).run_iteration(context))
