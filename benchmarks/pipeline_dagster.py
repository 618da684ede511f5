"""The Dagster side of `pipeline.py`: the platform's three jobs on one landed batch, as `make run` runs them.

Run by `pipeline.py` in a fresh process: `pipeline_dagster.py ROOT OUT.json SPAWN_TIME`. Each step's span
is its STEP_START..STEP_SUCCESS in the event log (input loading and output storage included); a job's
time is the whole `execute_in_process` call, so run setup and teardown count too.
"""

from __future__ import annotations

import time

from pipeline_probe import BATCH, TRAINING, Probe, quiet_environment, worker_args

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def main() -> None:
    root, out, spawned = worker_args()
    quiet_environment(root)
    import dagster as dg

    from ml_platform.definitions import build_defs, platform_resources

    defs = build_defs(platform_resources(
        spec_path=str(root / "spec.yaml"), data_dir=str(root / "data"),
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "mlflow-artifacts"),
        bentoml_home=str(root / "bentoml")))
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    instance.add_dynamic_partitions("batches", [BATCH])
    probe = Probe()
    started = time.time()
    plan = [("ingest_batch", {"partition_key": BATCH}),
            ("retrain", {"run_config": {"ops": {"trained_model": {"config": TRAINING}}}}),
            ("monitor_batch", {"partition_key": BATCH})]
    jobs = {}
    for name, kwargs in plan:
        begin = time.time()
        run_config = {**QUIET, **kwargs.pop("run_config", {})}
        result = defs.resolve_job_def(name).execute_in_process(instance=instance, run_config=run_config, **kwargs)
        jobs[name] = time.time() - begin
        starts = {}
        for entry in instance.all_logs(result.run_id):
            event = entry.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = entry.timestamp
            elif event.event_type_value == "STEP_SUCCESS":
                probe.span(event.step_key, starts[event.step_key], entry.timestamp)
    probe.report(out, startup=started - spawned, total=time.time() - started, jobs=jobs)
    instance.dispose()


if __name__ == "__main__":
    main()
