"""Runs the `retrain` job of a test platform in its own process, so a test can SIGKILL it.

With `--pause-at`, the process touches `--ready` and sleeps just before that call, so the kill lands
at a known point: `fit` (inside the model search) or `set_champion` (promotion, model staged but the
alias not yet moved).
"""

import argparse
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from ml_platform.definitions import build_defs, platform_resources


def pause_before(owner, name: str, ready: Path) -> None:
    original = getattr(owner, name)

    def paused(*args, **kwargs):
        ready.touch()
        time.sleep(600)
        return original(*args, **kwargs)

    setattr(owner, name, paused)


def main() -> None:
    parser = argparse.ArgumentParser()
    for arg in ("root", "spec", "dagster-home", "ready"):
        parser.add_argument(f"--{arg}", required=True)
    parser.add_argument("--pause-at", choices=["fit", "set_champion", "none"], default="none")
    args = parser.parse_args()
    root, ready = Path(args.root), Path(args.ready)
    if args.pause_at == "fit":
        from sklearn.pipeline import Pipeline

        pause_before(Pipeline, "fit", ready)
    elif args.pause_at == "set_champion":
        from ml_platform.lib.registry import Registry

        pause_before(Registry, "set_champion", ready)
    defs = build_defs(platform_resources(
        spec_path=args.spec, data_dir=str(root / "data"), tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "mlflow-artifacts"), bentoml_home=str(root / "bentoml")))
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(args.dagster_home)) as instance:
        config = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1.0]}}}}
        result = defs.resolve_job_def("retrain").execute_in_process(instance=instance, run_config=config)
    ready.write_text("done" if result.success else "failed")


if __name__ == "__main__":
    main()
