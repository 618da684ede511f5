"""Runs the `retrain` job of a test platform in its own process, so a test can SIGKILL it.

With `--pause-at`, the process touches `--ready` and sleeps at that point, so the kill lands at a
known boundary: `fit` (inside the model search), `staging` (promotion decided, nothing stored yet),
`alias` (the model committed to the store, the alias not yet moved) or `run_end` (the alias moved,
the run not yet finished).
"""

import argparse
import time
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from ml_platform.definitions import build_defs, platform_resources

PAUSE_POINTS = ("fit", "staging", "alias", "run_end")


def pause(ready: Path) -> None:
    ready.touch()
    time.sleep(600)


def pause_before(owner, name: str, ready: Path) -> None:
    original = getattr(owner, name)

    def paused(*args, **kwargs):
        pause(ready)
        return original(*args, **kwargs)

    setattr(owner, name, paused)


def pause_after(owner, name: str, ready: Path) -> None:
    original = getattr(owner, name)

    def paused(*args, **kwargs):
        result = original(*args, **kwargs)
        pause(ready)
        return result

    setattr(owner, name, paused)


def install_pause(at: str, ready: Path) -> None:
    from sklearn.pipeline import Pipeline

    from ml_platform.lib import model_store
    from ml_platform.lib.registry import Registry

    where = {"fit": (pause_before, Pipeline, "fit"),
             "staging": (pause_before, model_store, "staged_champion"),
             "alias": (pause_before, Registry, "set_champion"),
             "run_end": (pause_after, Registry, "set_champion")}
    install, owner, name = where[at]
    install(owner, name, ready)


def main() -> None:
    parser = argparse.ArgumentParser()
    for arg in ("root", "spec", "dagster-home", "ready"):
        parser.add_argument(f"--{arg}", required=True)
    parser.add_argument("--pause-at", choices=[*PAUSE_POINTS, "none"], default="none")
    parser.add_argument("--logistic-c", type=float, default=1.0,
                        help="a search of its own, so the candidate is a new model (not the champion again)")
    args = parser.parse_args()
    root, ready = Path(args.root), Path(args.ready)
    if args.pause_at != "none":
        install_pause(args.pause_at, ready)
    defs = build_defs(platform_resources(
        spec_path=args.spec, data_dir=str(root / "data"), tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
        artifact_root=str(root / "mlflow-artifacts"), bentoml_home=str(root / "bentoml")))
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(args.dagster_home)) as instance:
        config = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [args.logistic_c]}}}}
        result = defs.resolve_job_def("retrain").execute_in_process(instance=instance, run_config=config)
    ready.write_text("done" if result.success else "failed")


if __name__ == "__main__":
    main()
