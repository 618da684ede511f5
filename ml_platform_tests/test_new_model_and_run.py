"""`make new-model` and `make run` as a user runs them, on a copy of the project: the command declares a
model from a CSV (and refuses a taken name or an unreadable CSV, leaving nothing behind), and `make run`
goes on past a model with nothing landed: the others train and are summarised, and the exit code and the
closing lines say which model had nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ml_platform_tests.project_copy import project_copy, project_env
from ml_platform_tests.platforms import write_wine_csv


def run(project: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=project, env=project_env(project),
                          capture_output=True, text=True, timeout=timeout)


def test_new_model_declares_a_model_and_make_run_goes_on_past_one_with_nothing_landed(tmp_path):
    project = project_copy(tmp_path, models=["iris"])
    models = project / "ml_platform" / "defs" / "models"
    csv = write_wine_csv(tmp_path / "wine_landing")

    made = run(project, "ml_platform.new_model", "wine", str(csv), "cultivar")
    assert made.returncode == 0, made.stderr
    assert (models / "wine" / "defs.yaml").is_file() and "cultivar" in (models / "wine" / "spec.yaml").read_text()
    assert "BENTO_IMAGE_WINE" in made.stdout, "the next step for the cluster is named"
    again = run(project, "ml_platform.new_model", "wine", str(csv), "cultivar")
    assert again.returncode == 2 and "exists already" in again.stderr
    unreadable = run(project, "ml_platform.new_model", "nope", str(tmp_path / "missing.csv"), "cultivar")
    assert unreadable.returncode == 1 and "cannot infer a spec" in unreadable.stderr
    assert not (models / "nope").exists(), "a failed declaration leaves no half-written folder"

    csv.unlink()  # wine's landing folder is now empty: nothing to ingest
    done = run(project, "ml_platform.quickstart")
    printed = done.stdout
    assert done.returncode == 1, printed + done.stderr[-3000:]
    iris = printed[printed.index("Model iris (iris):"):]
    assert "Champion: version 1 (MLflow alias 'champion')" in iris and "Bento: " in iris, printed
    assert "Model wine: " in printed, printed
    assert "Failed runs: wine (nothing landed)" in printed, printed
