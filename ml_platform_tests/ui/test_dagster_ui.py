"""The Dagster UI tells the story: a real `dagster dev` driven by a real headless Chromium.

In the order a user works: see the graph, materialize everything, read the reports; then Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from ml_platform_tests.ui.conftest import ARTIFACTS

ASSETS = ["raw_data", "validated_data", "rejected_rows", "features", "training_set", "trained_model",
          "evaluation_report", "promoted_model", "bento", "reference_profile", "drift_report"]
EDGES = {("raw_data", "validated_data"), ("raw_data", "rejected_rows"), ("validated_data", "features"),
         ("features", "training_set"),
         ("rejected_rows", "training_set"), ("training_set", "trained_model"),
         ("trained_model", "evaluation_report"), ("evaluation_report", "promoted_model"),
         ("promoted_model", "bento"), ("features", "drift_report"),
         ("reference_profile", "drift_report")}
LINEAGE_QUERY = "{ assetNodes { assetKey { path } dependencyKeys { path } } }"


MATERIALIZE_ALL = re.compile(r"Materialize all( \(\d+\))?…")  # the count shows beside several partitionings


def open_expanded_graph(page, url: str) -> None:
    page.goto(f"{url}/asset-groups")
    page.get_by_text("Global asset lineage").first.wait_for(timeout=120_000)
    try:  # Dagster's one-time "join the community" dialog; while it is open the page behind it has no roles
        page.get_by_role("button", name="Skip").click(timeout=15_000)
    except PlaywrightTimeout:
        pass
    page.get_by_role("button", name=MATERIALIZE_ALL).wait_for(timeout=60_000)
    settings = page.locator("button:has([aria-label='settings'])").last  # the graph's view settings
    settings.click()
    try:  # the choice is remembered: on a second visit the menu offers "Collapse all groups" instead
        page.get_by_role("menuitem", name="Expand all groups").click(timeout=5_000)
    except PlaywrightTimeout:
        pass
    page.mouse.click(700, 200)  # on the empty canvas: closes the menu so it does not cover the graph
    page.get_by_role("menuitem").first.wait_for(state="hidden")


def wait_for_backfill(page, url: str, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.goto(f"{url}/overview/backfills")
        page.get_by_text("Manually launched").first.wait_for(timeout=30_000)
        rows = page.inner_text("body").split("Duration", 1)[-1]  # below the header: the tabs say "Failed" too
        if any(s in rows for s in ("Success", "Completed", "Failed", "Canceled")):
            return rows
        time.sleep(5)
    raise TimeoutError(f"the backfill did not finish within {seconds} s")


def test_graph_materialize_all_and_reports_in_a_real_browser(dagster_dev, browser):
    url = dagster_dev["url"]
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()

    open_expanded_graph(page, url)
    for asset in ASSETS:
        page.get_by_text(asset, exact=True).first.wait_for(timeout=30_000)
    lineage = page.request.post(f"{url}/graphql", data={"query": LINEAGE_QUERY}).json()["data"]["assetNodes"]
    edges = {(d["path"][-1], n["assetKey"]["path"][-1]) for n in lineage for d in n["dependencyKeys"]}
    assert EDGES <= edges
    assert page.locator("svg path").count() >= len(EDGES)
    page.screenshot(path=str(ARTIFACTS / "asset-graph.png"))

    page.get_by_role("button", name=MATERIALIZE_ALL).click()
    dialog = page.get_by_role("dialog")
    # batches and scoring files are partitioned apart, so the dialog offers all partitions of each
    dialog.get_by_text("different partition definitions").first.wait_for()
    dialog.get_by_role("button", name="Launch backfill").click()
    status = wait_for_backfill(page, url, seconds=480)
    page.screenshot(path=str(ARTIFACTS / "backfill.png"))
    assert "Success" in status or "Completed" in status, status

    open_expanded_graph(page, url)
    page.screenshot(path=str(ARTIFACTS / "asset-graph-materialized.png"))
    for asset in ASSETS:
        page.goto(f"{url}/assets/{asset}")
        page.get_by_text("Latest materialization").first.wait_for()
        assert page.get_by_text("Never materialized").count() == 0, asset

    page.goto(f"{url}/assets/evaluation_report")
    for key in ("candidate_f1_macro", "per_class", "gate_reason", "mlflow_run", "confusion_matrix"):
        page.get_by_text(key, exact=True).first.wait_for()
    # The confusion matrix is an MLflow artifact, linked: metadata carries no image.
    page.locator("a[href*='/artifactPath/confusion_v']").first.wait_for()
    assert page.locator("img[src^='data:image/png']").count() == 0
    page.screenshot(path=str(ARTIFACTS / "evaluation-report.png"), full_page=True)

    page.goto(f"{url}/assets/features?partition={dagster_dev['keys'][0]}")
    for key in ("feature_stats", "derived_features", "model_inputs"):
        page.get_by_text(key, exact=True).first.wait_for()
    page.get_by_text("age_group", exact=True).first.wait_for()  # the derived column, in the column schema
    page.screenshot(path=str(ARTIFACTS / "features.png"), full_page=True)

    page.goto(f"{url}/assets/drift_report?partition={dagster_dev['keys'][0]}")
    page.get_by_text("decision", exact=True).first.wait_for()
    page.get_by_text("evidently_report", exact=True).first.wait_for()
    page.get_by_text(re.compile(r"reports/drift/batch-0000[12]\.csv\.html")).first.wait_for()
    page.screenshot(path=str(ARTIFACTS / "drift-report.png"), full_page=True)


def test_ctrl_c_stops_make_ui_within_10_seconds(dagster_dev):
    """Ctrl-C in a terminal is SIGINT to the foreground process group: here, `make ui`'s `ml_platform.ui`."""
    process = dagster_dev["process"]
    url = dagster_dev["url"]
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    assert process.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    with pytest.raises(OSError):  # nothing answers any more: the webserver went with it
        urllib.request.urlopen(f"{url}/server_info", timeout=2)
