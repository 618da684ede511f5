"""Two models in one code location, as `make ui` shows them: the shipped components, walked in a real browser.

Each model's lineage is its own (asset keys prefixed by the model, groups named for it), the catalogue
names every asset with its model's prefix and group, and a model's group page draws that model's graph alone.
"""

from __future__ import annotations

import os
import shutil

import pytest

from benchmarks.service_process import free_port
from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.ui.conftest import ARTIFACTS, running_ui
from ml_platform_tests.ui.test_dagster_ui import EDGES, LINEAGE_QUERY

MODELS = ["customer_segmentation", "iris"]


@pytest.fixture(scope="module")
def two_models_ui(tmp_path_factory):
    """`make ui` on the code location's own model folders (no ML_PLATFORM_DATASET), on temporary state."""
    root = tmp_path_factory.mktemp("ui-models")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if k != "ML_PLATFORM_DATASET"}, "DAGSTER_HOME": str(home),
           "ML_PLATFORM_STORAGE": str(root / "data"), "MLFLOW_TRACKING_URI": f"sqlite:///{root}/mlflow.db",
           "MLFLOW_ARTIFACTS_DESTINATION": str(root / "mlflow-artifacts"), "BENTOML_HOME": str(root / "bentoml"),
           "ML_PLATFORM_ALERT_WEBHOOK": "", "ML_PLATFORM_PUSHGATEWAY_URL": "", "ML_PLATFORM_SENSORS": "off"}
    with running_ui(root, port, env):
        yield f"http://127.0.0.1:{port}"


def test_each_model_has_its_own_lineage_folder_and_groups(two_models_ui, browser):
    url = two_models_ui
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(f"{url}/assets")
    for model in MODELS:  # the catalogue names each asset by its model's prefix, in the model's groups
        page.get_by_text(f"{model} / bento", exact=True).first.wait_for(timeout=120_000)
        page.get_by_text(f"{model}__serving", exact=True).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "catalogue-two-models.png"))

    nodes = page.request.post(f"{url}/graphql", data={"query": LINEAGE_QUERY}).json()["data"]["assetNodes"]
    edges = {(tuple(d["path"]), tuple(n["assetKey"]["path"])) for n in nodes for d in n["dependencyKeys"]}
    for model in MODELS:
        assert {((model, a), (model, b)) for a, b in EDGES} <= edges, model
    crossing = {(a, b) for a, b in edges if a[0] != b[0]}
    assert not crossing, f"no edge joins two models: {crossing}"

    for model in MODELS:  # a model's group draws its graph alone
        page.goto(f"{url}/locations/ml_platform/asset-groups/{model}__training")
        for asset in ("training_set", "trained_model"):
            page.get_by_text(asset, exact=True).first.wait_for(timeout=60_000)
        other = next(m for m in MODELS if m != model)
        assert page.get_by_text(f"{other}__training").count() == 0
        page.screenshot(path=str(ARTIFACTS / f"group-{model}-training.png"))
