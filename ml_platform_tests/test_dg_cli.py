"""Dagster's own `dg` CLI sees the platform's models: `dg list components` names the platform component,
`dg scaffold defs` adds a model from a CSV, and `dg check defs` and `dg list defs` show it beside the
shipped ones. Run on a copy of the project, so the checkout's models stay as they are."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.project_copy import project_copy, project_env
from ml_platform_tests.platforms import write_wine_csv

DG = Path(sys.executable).parent / "dg"  # requirements-dev.lock's dagster-dg-cli, installed by `make install`


def dg(project: Path, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([str(DG), *args], cwd=project, env=project_env(project), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"dg {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def asset_keys(project: Path) -> set[str]:
    return {asset["asset_key"] for asset in json.loads(dg(project, "list", "defs", "--json").stdout)["assets"]}


def test_dg_scaffolds_a_model_from_a_csv_and_checks_and_lists_it_beside_the_shipped_ones(tmp_path):
    project = project_copy(tmp_path)
    assert "ml_platform.components.PlatformModel" in dg(project, "list", "components").stdout
    before = asset_keys(project)
    assert {"customer_segmentation/raw_data", "iris/raw_data", "iris/bento"} <= before
    assert not [key for key in before if key.startswith("wine/")]

    csv = write_wine_csv(tmp_path / "wine_landing")
    dg(project, "scaffold", "defs", "ml_platform.components.PlatformModel", "models/wine",
       "--csv", str(csv), "--target", "cultivar")
    folder = project / "ml_platform" / "defs" / "models" / "wine"
    assert (folder / "defs.yaml").is_file() and "cultivar" in (folder / "spec.yaml").read_text()
    assert "All definitions loaded successfully" in dg(project, "check", "defs").stdout
    wine = {key for key in asset_keys(project) if key.startswith("wine/")}
    assert {"wine/raw_data", "wine/features", "wine/trained_model", "wine/bento", "wine/drift_report"} <= wine
    assert not (PROJECT_DIR / "ml_platform" / "defs" / "models" / "wine").exists(), "the checkout is untouched"
