"""A copy of the project in a test's folder, for commands that write into `ml_platform/defs/models/` (`dg
scaffold defs`, `make new-model`) or run every declared model (`make run`), so the checkout stays as it is."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ml_platform.definitions import PROJECT_DIR
from ml_platform.quickstart import ENV


def project_copy(root: Path, models: list[str] | None = None) -> Path:
    """The code, specs and config under `root/project`; with `models`, only those of the shipped models."""
    project = root / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in ("ml_platform", "datasets", "serving"):
        shutil.copytree(PROJECT_DIR / part, project / part, ignore=ignore)
    for name in ("pyproject.toml", "dagster.yaml"):
        shutil.copy(PROJECT_DIR / name, project)
    for folder in (project / "ml_platform" / "defs" / "models").iterdir():
        if folder.is_dir() and models is not None and folder.name not in models:
            shutil.rmtree(folder)
    return project


def project_env(project: Path) -> dict[str, str]:
    """What the Makefile exports, for the copy: its own state folders, its code first on the path, and the
    declared models (no ML_PLATFORM_DATASET)."""
    home = project / ".dagster_home"
    home.mkdir(exist_ok=True)
    shutil.copy(project / "dagster.yaml", home)
    env = {**os.environ, **{name: "" for name in ENV.values()}}
    env.update(PYTHONPATH=str(project), VIRTUAL_ENV=str(Path(sys.executable).parents[1]), DAGSTER_HOME=str(home),
               ML_PLATFORM_STORAGE=str(project / "data"), MLFLOW_ARTIFACTS_DESTINATION=str(project / "data" / "mlflow"),
               MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}", BENTOML_HOME=str(project / ".bentoml"),
               BENTOML_DO_NOT_TRACK="True", DAGSTER_DISABLE_TELEMETRY="1", MLFLOW_ALLOW_PICKLE_DESERIALIZATION="false")
    return env
