"""`make new-model NAME=churn DATA=churn.csv TARGET=churned`: declare a model from a CSV, no Python written.

Runs the `PlatformModel` component's scaffolder (what `dg scaffold defs` runs) into
`ml_platform/defs/models/<NAME>/`: a `defs.yaml` and a `spec.yaml` inferred from the CSV's columns.
"""

from __future__ import annotations

import shutil
import sys
import warnings
from pathlib import Path

import dagster as dg

from ml_platform.components.platform_model import NewModel, NewModelParams
from ml_platform.model_scope import dagster_name

MODELS_DIR = Path(__file__).resolve().parent / "defs" / "models"


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", category=dg.PreviewWarning)
    name, csv, target = argv
    folder = MODELS_DIR / dagster_name(name)
    if folder.exists():
        print(f"{folder} exists already: choose another NAME or edit that model", file=sys.stderr)
        return 2
    request = dg.ScaffoldRequest(type_name="ml_platform.components.PlatformModel", target_path=folder,
                                 scaffold_format="yaml", project_root=MODELS_DIR.parents[2],
                                 params=NewModelParams(csv=str(Path(csv).resolve()), target=target))
    try:
        NewModel().scaffold(request)
    except (OSError, ValueError) as exc:
        shutil.rmtree(folder, ignore_errors=True)  # it did not exist before: leave nothing half-written
        print(f"cannot infer a spec: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {folder}/defs.yaml and spec.yaml (from {csv}); check the template, then `make run`.\n"
          f"For Kubernetes: add BENTO_IMAGE_{folder.name.upper()} to deploy/images.env, then `make k8s-manifests` "
          "(deploy/README.md, \"Many models\")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
