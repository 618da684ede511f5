"""A fabricated history for the retention tests: files of every kind written before and after a split
instant, the instance's records of ingestion and the window, a registry with aliases and a journal,
a BentoML store with models and Bentos.

Object stores set Last-Modified themselves, so ages are made by writing in order and choosing the
retention run's `now`: every file written before `split` is older than the policy's days, every file
written after is younger. Files: name -> path, so the test says exactly which stay."""

from __future__ import annotations

import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import bentoml
import dagster as dg
import yaml
from upath import UPath

from ml_platform.defs.promotion.alias_history import Journal
from ml_platform.defs.retention.protected import CLOCK_MARGIN_SECONDS
from ml_platform.lib import model_store
from ml_platform.lib.registry import CHALLENGER, CHAMPION
from ml_platform.lib.storage import as_uri, is_remote, storage_path, write_atomic

WINDOW = ["batch-c.csv", "batch-d.csv"]  # the newest two ingested batches: window_batches is 2
INGESTED = ["batch-a.csv", "batch-b.csv", *WINDOW]
VERSIONS = [str(v) for v in range(1, 9)]
CHAMPION_MOVES = ["1", "2", "4", "5"]  # the journal's champions, oldest first: 5 is champion, 4 and 2 rollback targets
REFERENCE_MODEL, CHALLENGER_VERSION = "3", "8"
# Runs whose step outputs lie under assets/<run id>/: finished, still going, and one that wrote them late.
RUN_DONE, RUN_GOING, RUN_YOUNG = (f"{n}0000000-0000-4000-8000-000000000000" for n in (1, 2, 3))
BENTOS = ["1", "6", "5", "7"]  # built in this order for these versions: 7 is the newest, 5 the champion's


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y%m%dT%H%M%S.%f")


def _pause() -> None:
    time.sleep(1.2)  # S3's Last-Modified has whole seconds


def write_files(root: UPath, landing: UPath, dataset: str) -> tuple[dict[str, UPath], float]:
    """Every kind of file, old and young; returns them by name and the split instant."""
    logs, labels, reports, predictions = root / "inference_log", root / "labels", root / "reports", root / "predictions"
    archives = root / "bentos" / dataset
    old = {"consumed_old": logs / "consumed" / "inference-20250101T000000.000000-1-1-aa-h.jsonl",
           "unreadable_old": logs / "unreadable" / "inference-20250101T000000.000000-1-1-bb-h.jsonl",
           "label_old": labels / "labels-old.csv",
           **{name: landing / name for name in [*INGESTED, "batch-e.csv"]},
           "drift_old": reports / "drift" / "batch-a.csv.html",
           "plot_old": reports / "evaluation" / "confusion_v1.png",
           "sample_old": reports / "reference" / "old.parquet",
           "sample_current": reports / "reference" / "current.parquet",
           "partition_old": predictions / "date=2025-01-01" / "hour=00" / "inference-20250101T000000.parquet",
           "marker_consumed": predictions / "added" / "inference-20250101T000000.000000-1-1-aa-h",
           "step_output_old": root / "assets" / RUN_DONE / "trained_model.plan_search" / "plan.json",
           "step_output_going": root / "assets" / RUN_GOING / "trained_model.plan_search" / "plan.json"}
    for path in old.values():
        write_atomic(path, b"x" * 100)
    for version in BENTOS:  # exported in build order: the newest last
        _pause()
        old[f"archive_v{version}"] = archives / f"v{version}-ml-platform-classifier-{version}abc.bento"
        write_atomic(old[f"archive_v{version}"], b"b" * 100)
    _pause()
    opened = time.time()  # a log file still waiting for labels, opened now as far as labels can tell
    pending_stem = f"inference-{_stamp(opened + CLOCK_MARGIN_SECONDS)}-1-1-cc-h"
    old["marker_pending"] = predictions / "added" / pending_stem  # added to the store, not consumed yet
    write_atomic(old["marker_pending"], b"")
    pending = logs / f"{pending_stem}.jsonl"
    write_atomic(pending, b'{"record_id": "r1"}\n')
    _pause()
    late_label = labels / "labels-after-pending.csv"
    write_atomic(late_label, b"record_id,label\nr1,budget\n")
    _pause()
    split = time.time()
    _pause()
    young = {"consumed_young": logs / "consumed" / "inference-20250102T000000.000000-1-1-dd-h.jsonl",
             "label_young": labels / "labels-young.csv", "batch-g.csv": landing / "batch-g.csv",
             "drift_young": reports / "drift" / "batch-g.csv.html",
             "plot_young": reports / "evaluation" / "confusion_v8.png",
             "sample_young": reports / "reference" / "young.parquet",
             "partition_young": predictions / "date=2099-01-01" / "hour=00" / "inference-20990101T000000.parquet",
             "step_output_young": root / "assets" / RUN_YOUNG / "trained_model.plan_search" / "plan.json"}
    for path in young.values():
        write_atomic(path, b"y" * 10)
    return {**old, "pending": pending, "label_after_pending": late_label, **young}, split


def record_ingestion(instance: dg.DagsterInstance, root: UPath) -> None:
    """Batches a..d ingested (in landing order) with 100 valid rows each, and the current reference profile."""
    instance.add_dynamic_partitions("batches", INGESTED)
    for run_id, status in ((RUN_DONE, dg.DagsterRunStatus.SUCCESS), (RUN_GOING, dg.DagsterRunStatus.STARTED),
                           (RUN_YOUNG, dg.DagsterRunStatus.FAILURE)):
        instance.add_run(dg.DagsterRun(job_name="retrain", run_id=run_id, status=status))
    for key in INGESTED:
        for asset, rows in (("raw_data", 100), ("features", 100), ("rejected_rows", 0)):
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset, partition=key, metadata={"dagster/row_count": rows}))
    profile = {"sample_path": str(root / "reports" / "reference" / "current.parquet"),
               "model": {"version": REFERENCE_MODEL}}
    # where the json IO manager keeps the asset's value
    write_atomic(root / "assets" / "reference_profile.json", json.dumps(profile).encode())


def model_folder(artifact_root: str, version: str) -> UPath:
    return storage_path(artifact_root) / "fabricated" / f"v{version}"


def fill_registry(instance: dg.DagsterInstance, registry, artifact_root: str) -> None:
    """Eight versions with model files, champions moved through the journal, a challenger."""
    registry.client.create_registered_model(registry.model_name)
    for version in VERSIONS:
        folder = model_folder(artifact_root, version)
        write_atomic(folder / "model.skops", b"m" * 1000)
        source = as_uri(folder) if is_remote(folder) else str(folder)
        registry.client.create_model_version(registry.model_name, source=source)
    journal = Journal(instance)
    for version in CHAMPION_MOVES:
        journal.move(registry, CHAMPION, version, "test", "history")
    registry.tag_version(CHAMPION_MOVES[-1], {"previous_champion": CHAMPION_MOVES[-2]})
    journal.move(registry, CHALLENGER, CHALLENGER_VERSION, "test", "a challenger")


def fill_store(home: str, model_name: str, template: Path) -> None:
    """A stored model per version; Bentos cloned from one built `template` and labelled per version."""
    for version in VERSIONS:
        with bentoml.models.create(model_store.tag_for(model_name, version), labels={"mlflow_version": version},
                                   _model_store=model_store._store(home)) as stored:
            Path(stored.path_of("model.skops")).write_bytes(b"m" * 1000)
    for position, version in enumerate(BENTOS):
        clone = Path(home, "bentos", "echo", f"v{version}x{position}")
        shutil.copytree(template, clone)
        info = yaml.safe_load((clone / "bento.yaml").read_text())
        info.update(version=clone.name, labels={"model_tag": model_store.tag_for(model_name, version)},
                    creation_time=datetime.fromtimestamp(1_700_000_000 + position, timezone.utc).isoformat())
        (clone / "bento.yaml").write_text(yaml.safe_dump(info))
