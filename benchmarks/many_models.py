"""The cost of another model: code-location load time and `make run` time with 1, 2 and 10 models.

    .venv/bin/python benchmarks/many_models.py [--models 1 2 10] [--rows 600]

Each count runs in a fresh process on its own temporary project, instance and stores: that many
`PlatformModel` folders (copies of the iris spec, `--rows` per batch, 2 batches each), declared as
`make new-model` would. "Load" is what a code-location server pays on start and on every reload: the
defs folder loaded and the repository (asset graph, jobs, sensors) built. "make run" is the quickstart's
work per model: land, ingest, retrain through the Bento, check each batch for drift. Ratios are per model,
against one model measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: the repo's packages

PROJECT = Path(__file__).resolve().parent.parent


def worker(count: int, rows: int, root: Path) -> dict:
    """One measurement in this process: declare `count` models, load them, run each one."""
    import warnings

    import dagster as dg
    import yaml
    from dagster.components.testing import create_defs_folder_sandbox

    from ml_platform.components import PlatformModel
    from ml_platform.definitions import build_defs, platform_resources
    from ml_platform.model_scope import models_of
    from ml_platform.quickstart import run_platform

    warnings.filterwarnings("ignore")
    spec = yaml.safe_load((PROJECT / "datasets" / "iris.yaml").read_text())
    with create_defs_folder_sandbox() as sandbox:
        for index in range(count):
            path = root / f"iris_{index}.yaml"
            path.write_text(yaml.safe_dump({**spec, "name": f"iris-{index}",
                                            "source": {**spec["source"], "batches": 2, "rows_per_batch": rows}}))
            sandbox.scaffold_component(PlatformModel, defs_path=f"iris_{index}", scaffold_params={"spec": str(path)})
        resources = platform_resources(spec_path="", data_dir=str(root / "data"), tracking_uri=f"sqlite:///{root}/m.db",
                                       artifact_root=str(root / "artifacts"), bentoml_home=str(root / "bentoml"))
        started = time.perf_counter()
        with sandbox.build_all_defs() as models:
            defs = build_defs(resources, sensors=False, models=models)
            defs.get_repository_def()
            loaded = time.perf_counter() - started
            (root / "home").mkdir()
            started = time.perf_counter()
            with dg.DagsterInstance.local_temp(str(root / "home")) as instance:
                failed = [run for model in models_of(defs) for run in run_platform(defs, instance, model)]
            ran = time.perf_counter() - started
    assert not failed, failed
    return {"models": count, "load_s": loaded, "run_s": ran}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, nargs="+", default=[1, 2, 10])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.rows, Path(args.root))))
        return
    results = []
    for count in args.models:
        with tempfile.TemporaryDirectory(prefix=f"many-models-{count}-") as root:
            done = subprocess.run([sys.executable, __file__, "--worker", str(count), "--rows", str(args.rows),
                                   "--root", root], capture_output=True, text=True, timeout=3600, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    one = results[0]
    print("| models | code location load s | per model vs 1 | make run s | per model vs 1 |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        per_load = r["load_s"] / r["models"] / (one["load_s"] / one["models"])
        per_run = r["run_s"] / r["models"] / (one["run_s"] / one["models"])
        print(f"| {r['models']} | {r['load_s']:.2f} | {per_load:.2f}x | {r['run_s']:.1f} | {per_run:.2f}x |")
    print(f"\nIris copies, 2 batches of {args.rows} rows each, the default search; one run on "
          f"{len(os.sched_getaffinity(0))} cores.")


if __name__ == "__main__":
    main()
