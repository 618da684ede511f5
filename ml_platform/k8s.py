"""Pod sizes per asset, and the run coordinator that gives every run pod the size its assets need.

The K8sRunLauncher sizes a run's pod from the run's `dagster-k8s/config` tag alone, and tags set on a
job are lost when a run starts from the asset graph, from automation or from an asset backfill
(dagster#22865, #26720, #33430). So the size lives on the asset itself, as op tags (which the
`k8s_job_executor` reads for each step pod, whatever started the run), and `AssetSizedRunCoordinator`
copies the largest size among a run's steps onto the run when it is submitted: every launch path
submits through the run coordinator, so every run pod gets it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from dagster import DagsterInstance, QueuedRunCoordinator
from dagster._core.run_coordinator import SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

K8S_CONFIG_TAG = "dagster-k8s/config"


def k8s_op_tags(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict:
    """`op_tags` that size an asset's pod: requests are what the scheduler reserves, limits the ceiling."""
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
    return {K8S_CONFIG_TAG: {"container_config": {"resources": resources}}}


# The hyperparameter search fits one model per core (joblib); 4 GiB holds a million-row training set.
TRAINING_OP_TAGS = k8s_op_tags(cpu="2", memory="4Gi", cpu_limit="4", memory_limit="8Gi")
# Evidently peaks at about 1.1 GiB on a million-row batch (measured; docs/closed_loop.md).
DRIFT_OP_TAGS = k8s_op_tags(cpu="1", memory="2Gi", cpu_limit="2", memory_limit="4Gi")


def _quantity(value: str | None) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(value)) if value else 0.0


def _size(config: Mapping) -> tuple[float, float]:
    requests = config.get("container_config", {}).get("resources", {}).get("requests", {})
    return _quantity(requests.get("memory")), _quantity(requests.get("cpu"))


def step_k8s_configs(instance: DagsterInstance, run: DagsterRun) -> list[dict]:
    """The `dagster-k8s/config` op tags of the steps this run executes, read from its job snapshot."""
    if run.job_snapshot_id is None:
        return []
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    op_defs = {op.name: op for op in snapshot.node_defs_snapshot.op_def_snaps}
    invoked = {node.node_name: node.node_def_name for node in snapshot.dep_structure_snapshot.node_invocation_snaps}
    steps = run.step_keys_to_execute or list(invoked)
    tags = [op_defs[invoked[step]].tags.get(K8S_CONFIG_TAG) for step in steps if step in invoked]
    return [json.loads(tag) if isinstance(tag, str) else dict(tag) for tag in tags if tag]


def run_pod_config(instance: DagsterInstance, run: DagsterRun) -> dict | None:
    """The largest step config (by memory, then CPU requested): one pod runs all steps, so it must fit the biggest."""
    configs = step_k8s_configs(instance, run)
    return max(configs, key=_size) if configs else None


class AssetSizedRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator, plus: a run without its own `dagster-k8s/config` tag gets its steps' size.

    A tag set on the run (launchpad, job tags, a sensor's run request) wins, so an operator can still
    resize one run by hand.
    """

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        if K8S_CONFIG_TAG not in run.tags:
            config = run_pod_config(self._instance, run)
            if config:
                self._instance.add_run_tags(run.run_id, {K8S_CONFIG_TAG: json.dumps(config)})
        return super().submit_run(context)


def platform_executor(name: str | None):
    """`k8s`: every step in its own pod, sized by its op tags (k8s_job_executor); otherwise one pod per run."""
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    import dagster as dg

    return dg.multiprocess_executor
