"""Pod sizes per asset, and the run coordinator that gives every run pod the size its assets need.

The K8sRunLauncher sizes a run's pod from the run's `dagster-k8s/config` tag alone, and tags set on a
job are lost when a run starts from the asset graph, from automation or from an asset backfill
(dagster#22865, #26720, #33430). So the size lives on the asset itself, as op tags (which the
`k8s_job_executor` reads for each step pod, whatever started the run), and `AssetSizedRunCoordinator`
copies the largest size among a run's steps onto the run when it is submitted: every launch path
submits through the run coordinator, so every run pod gets it. The same tag keeps the Kubernetes API
token out of run pods that launch no step pods (the chart's container context would mount it).
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


# The search's steps (defs/training/search_steps.py) run one fit per CPU of the limit (`lib/cpus.py` reads
# the pod's CFS quota). A candidate's step cross-validates it: one process per fold (3) at most, each
# mapping the training sample; a forest holds its trees in each. The winner's step refits it on every
# row and scores its learning curve: 4 GiB holds the sample, 8 GiB four fit processes holding forests.
TRAINING_OP_TAGS = k8s_op_tags(cpu="2", memory="4Gi", cpu_limit="4", memory_limit="8Gi")
PLAN_OP_TAGS = k8s_op_tags(cpu="500m", memory="1Gi", cpu_limit="1", memory_limit="2Gi")
CANDIDATE_OP_TAGS = {
    "logistic_regression": k8s_op_tags(cpu="1", memory="2Gi", cpu_limit="3", memory_limit="4Gi"),
    "random_forest": k8s_op_tags(cpu="3", memory="3Gi", cpu_limit="3", memory_limit="6Gi"),
    "hist_gradient_boosting": k8s_op_tags(cpu="3", memory="2Gi", cpu_limit="3", memory_limit="4Gi"),
}
# Evidently peaks at about 1.1 GiB on a million-row batch (measured; docs/closed_loop.md).
DRIFT_OP_TAGS = k8s_op_tags(cpu="1", memory="2Gi", cpu_limit="2", memory_limit="4Gi")


def _quantity(value: str | None) -> float:
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(value)) if value else 0.0


def _size(config: Mapping) -> tuple[float, float]:
    requests = config.get("container_config", {}).get("resources", {}).get("requests", {})
    return _quantity(requests.get("memory")), _quantity(requests.get("cpu"))


def step_k8s_configs(instance: DagsterInstance, run: DagsterRun) -> list[dict]:
    """The `dagster-k8s/config` op tags of the steps this run executes, read from its job snapshot (ops
    inside a graph-backed asset included: their step keys are `graph.op`, mapped ones `graph.op[key]`)."""
    if run.job_snapshot_id is None:
        return []
    snapshot = instance.get_job_snapshot(run.job_snapshot_id)
    op_defs = {op.name: op for op in snapshot.node_defs_snapshot.op_def_snaps}
    graphs = {graph.name: graph for graph in snapshot.node_defs_snapshot.graph_def_snaps}

    def ops_of(structure, prefix: str) -> dict[str, str]:
        found = {}
        for node in structure.node_invocation_snaps:
            handle = f"{prefix}{node.node_name}"
            if node.node_def_name in graphs:
                found |= ops_of(graphs[node.node_def_name].dep_structure_snapshot, f"{handle}.")
            else:
                found[handle] = node.node_def_name
        return found

    invoked = ops_of(snapshot.dep_structure_snapshot, "")
    steps = [step.split("[", 1)[0] for step in run.step_keys_to_execute or list(invoked)]
    tags = [op_defs[invoked[step]].tags.get(K8S_CONFIG_TAG) for step in dict.fromkeys(steps) if step in invoked]
    return [json.loads(tag) if isinstance(tag, str) else dict(tag) for tag in tags if tag]


def run_pod_config(instance: DagsterInstance, run: DagsterRun) -> dict | None:
    """The largest step config (by memory, then CPU requested): one pod runs all steps, so it must fit the biggest."""
    configs = step_k8s_configs(instance, run)
    return max(configs, key=_size) if configs else None


def launches_step_pods(run: DagsterRun) -> bool:
    """Whether the run's code location runs each step in a pod of its own: `ML_PLATFORM_EXECUTOR=k8s` in
    the env of the container context the chart gives its runs (the user deployment's `env`)."""
    origin = run.job_code_origin
    k8s = ((origin.repository_origin.container_context or {}) if origin else {}).get("k8s", {})
    declared = {e["name"]: e.get("value") for e in k8s.get("env", []) if isinstance(e, dict)}
    declared |= dict(e.split("=", 1) for e in k8s.get("env_vars", []) if "=" in e)
    return declared.get("ML_PLATFORM_EXECUTOR") == "k8s"


def without_api_token(config: dict) -> dict:
    """`config` whose pod mounts no Kubernetes API token, unless it says otherwise itself. The chart's
    container context mounts one in every run pod; only a run tag is merged after it."""
    pod_spec = {"automount_service_account_token": False, **config.get("pod_spec_config", {})}
    return {**config, "pod_spec_config": pod_spec}


class AssetSizedRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator, plus: a run without its own `dagster-k8s/config` tag gets its steps' size,
    and a run pod that launches no step pods gets no Kubernetes API token.

    A size set on the run (launchpad, job tags, a sensor's run request) wins, so an operator can still
    resize one run by hand; the token is withheld from such a run too, unless its tag mounts it.
    """

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        own = json.loads(run.tags[K8S_CONFIG_TAG]) if K8S_CONFIG_TAG in run.tags else None
        config = own if own is not None else (run_pod_config(self._instance, run) or {})
        if not launches_step_pods(run):
            config = without_api_token(config)
        if config and config != own:
            self._instance.add_run_tags(run.run_id, {K8S_CONFIG_TAG: json.dumps(config)})
        return super().submit_run(context)


def platform_executor(name: str | None):
    """`k8s`: every step in its own pod, sized by its op tags (k8s_job_executor); otherwise one pod per run,
    each step in a process of its own, or with `in_process` all steps in the run's process (a step's
    imports cost seconds: on a small machine that is most of a short run)."""
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    import dagster as dg

    return dg.in_process_executor if name == "in_process" else dg.multiprocess_executor
