"""A whole platform (instance, MLflow, BentoML store, data) in a directory, as the tests build it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from sklearn.datasets import load_wine
from upath import UPath

from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources
from ml_platform.lib.storage import is_remote, storage_path

DEFAULT_SPEC = PROJECT_DIR / "datasets" / "customer_segmentation.yaml"
FAST_TRAINING = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"],
                                                       "logistic_c": [1.0]}}}}


@dataclass
class Platform:
    root: Path  # local state: the instance, MLflow's database, BentoML's home
    spec_path: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    data_root: str  # the storage root: `<root>/data`, or `s3://...` in the storage matrix's s3 cell

    @property
    def resources(self) -> dict:
        return self.defs.resources

    @property
    def spec(self):
        return self.resources["dataset"].load()

    @property
    def registry(self):
        return self.resources["mlflow_tracking"].registry(self.spec.name)

    @property
    def bentoml_home(self) -> str:
        return self.resources["bento_store"].home_path

    @property
    def storage(self) -> UPath:
        return storage_path(self.data_root)

    @property
    def landing(self) -> UPath:
        return self.resources["storage"].landing_dir(self.spec)

    def job(self, name: str) -> dg.JobDefinition:
        return self.defs.resolve_job_def(name)

    def ingest(self, key: str, **kwargs) -> dg.ExecuteInProcessResult:
        self.instance.add_dynamic_partitions("batches", [key])
        return self.job("ingest_batch").execute_in_process(instance=self.instance, partition_key=key, **kwargs)

    def retrain(self, run_config: dict | None = None, **kwargs) -> dg.ExecuteInProcessResult:
        return self.job("retrain").execute_in_process(
            instance=self.instance, run_config=FAST_TRAINING if run_config is None else run_config, **kwargs)


def write_spec(path: Path, base: Path = DEFAULT_SPEC, **overrides) -> Path:
    """A copy of a spec with some top-level sections replaced (merged one level deep)."""
    spec = yaml.safe_load(base.read_text())
    for key, value in overrides.items():
        spec[key] = {**spec[key], **value} if isinstance(value, dict) and isinstance(spec.get(key), dict) else value
    path.write_text(yaml.safe_dump(spec))
    return path


def new_platform(root: Path, spec_path: Path | None = None, storage: str | None = None) -> Platform:
    """A whole platform under `root` (state directories, SQLite instance), its files under `storage` (a
    folder under `root` by default, MLflow's artifacts included); the caller disposes the instance."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dagster_home").mkdir()
    return platform_at(root, spec_path or write_spec(root / "spec.yaml", source={"batches": 2, "rows_per_batch": 800}),
                       storage or str(root / "data"))


def platform_at(root: Path, spec_path: Path, storage: str) -> Platform:
    artifacts = f"{storage}/mlflow" if is_remote(storage) else str(root / "mlflow-artifacts")
    resources = platform_resources(spec_path=str(spec_path), data_dir=storage,
                                   tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                                   artifact_root=artifacts, bentoml_home=str(root / "bentoml"))
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    return Platform(root, spec_path, build_defs(resources), instance, storage)


def clone_platform(template: Platform, root: Path) -> Platform:
    """A copy of a built platform (its files in a folder under its root) at `root`, a path exactly as long
    as the template's: each absolute path in its files is rewritten byte for byte, SQLite databases
    included, which keeps every record its length. Building and training one costs about a minute."""
    old, new = str(template.root).encode(), str(root).encode()
    assert len(old) == len(new) and not is_remote(template.data_root), (template.root, root)
    shutil.copytree(template.root, root)
    for path in root.rglob("*"):
        if path.is_file() and old in (data := path.read_bytes()):
            path.write_bytes(data.replace(old, new))
    return platform_at(root, root / template.spec_path.relative_to(template.root), f"{root}/data")


def write_wine_csv(folder: Path) -> Path:
    """scikit-learn's bundled wine data as a user's CSV: 13 measurements and the cultivar to predict."""
    data = load_wine(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace("/", "_per_"))
    frame["cultivar"] = frame.pop("target").map(lambda t: f"cultivar_{t}")
    folder.mkdir(parents=True)
    frame.to_csv(folder / "2026-01.csv", index=False)
    return folder / "2026-01.csv"
