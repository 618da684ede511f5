"""Shared fixtures: a whole platform (instance, MLflow, BentoML store, data) in a temporary directory."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
import yaml
from upath import UPath

os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-home-")  # never the repo's own store
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ["MLFLOW_ENABLE_TELEMETRY"] = "false"

from ml_platform.definitions import PROJECT_DIR, build_defs, platform_resources  # noqa: E402
from ml_platform.lib.storage import is_remote, storage_path  # noqa: E402
from ml_platform_tests.leaks import kill_survivors, mark_session  # noqa: E402
from ml_platform_tests.object_store import S3Server, running_s3  # noqa: E402
from ml_platform_tests.shuffled_order import SEED_VARIABLE, session_seed, shuffle  # noqa: E402

DEFAULT_SPEC = PROJECT_DIR / "datasets" / "customer_segmentation.yaml"
FAST_TRAINING = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"],
                                                       "logistic_c": [1.0]}}}}


STORAGE_KINDS = ["local", "s3"]


def pytest_generate_tests(metafunc):
    """A test that uses `storage_kind` (directly or through `pytest.mark.usefixtures`) runs once on local
    folders and once on `s3://` storage on a real S3 server: the storage matrix."""
    if "storage_kind" in metafunc.fixturenames:
        metafunc.parametrize("storage_kind", STORAGE_KINDS)


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session():
    """Set up before every other fixture, so torn down after all of them: whatever a test started and
    did not stop is killed here, and the session fails naming it."""
    token = mark_session()
    yield
    leaked = kill_survivors(token)
    assert not leaked, "processes started by tests outlived them (killed now):\n" + "\n".join(leaked)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> S3Server:
    """One SeaweedFS per test process, started only when a test needs it. Its AWS_* variables are set in
    this process, so in-process code and every process a test starts reach the bucket as a pod would."""
    with running_s3(tmp_path_factory.mktemp("seaweedfs")) as server:
        saved = {name: os.environ.get(name) for name in server.env}
        os.environ.update(server.env)
        yield server
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def storage_root(request, tmp_path) -> str:
    """The storage root of this test's matrix cell: a folder, or a fresh prefix in the bucket."""
    kind = request.getfixturevalue("storage_kind") if "storage_kind" in request.fixturenames else "local"
    if kind == "s3":
        return request.getfixturevalue("s3_server").new_root(request.node.name[:40].replace("[", "-").strip("]"))
    return str(tmp_path / "data")


def pytest_report_header(config):
    seed = session_seed(config)
    return f"test order: shuffled with seed {seed} (replay it: {SEED_VARIABLE}={seed})" if seed is not None else None


def pytest_configure_node(node):
    """pytest-xdist's hook: each worker shuffles with the controller's seed."""
    node.workerinput["order_seed"] = session_seed(node.config)


def pytest_collection_modifyitems(config, items):
    """The order is shuffled (`shuffled_order.py`). Under pytest-xdist (`make test` runs `-n auto --dist loadgroup`) the tests of a folder that share
    its conftest's session or module fixtures (a built platform, a served Bento) run on one worker, so
    those are built once; every other test is spread by file. (`_fixtureinfo` is pytest's, pinned in
    requirements-dev.lock: if it moves, collection fails here rather than running unbalanced.)"""
    for item in items:
        path = Path(item.fspath)
        folder = path.parent.relative_to(config.rootpath).as_posix()
        shared = path.parent.name != "ml_platform_tests" and any(
            definition.baseid == folder and definition.scope in ("session", "module")
            for definitions in item._fixtureinfo.name2fixturedefs.values() for definition in definitions)
        item.add_marker(pytest.mark.xdist_group(path.parent.name if shared else path.stem))
    shuffle(items, session_seed(config))


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
        return self.resources["mlflow_tracking"].registry()

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
    spec_path = spec_path or write_spec(root / "spec.yaml", source={"batches": 2, "rows_per_batch": 800})
    storage = storage or str(root / "data")
    artifacts = f"{storage}/mlflow" if is_remote(storage) else str(root / "mlflow-artifacts")
    resources = platform_resources(spec_path=str(spec_path), data_dir=storage,
                                   tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
                                   artifact_root=artifacts, bentoml_home=str(root / "bentoml"))
    (root / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(str(root / "dagster_home"))
    return Platform(root, spec_path, build_defs(resources), instance, storage)


@pytest.fixture
def make_platform(request, tmp_path):
    """Build a platform on a spec; each call gets its own state directories. In the storage matrix
    (the test uses `storage_kind`) its files live in that cell's storage: a folder, or the bucket."""
    built: list[Platform] = []

    def build(spec_path: Path | None = None, name: str = "platform") -> Platform:
        storage = None
        if "storage_kind" in request.fixturenames:
            storage = f"{request.getfixturevalue('storage_root')}/{name}"
        built.append(new_platform(tmp_path / name, spec_path, storage))
        return built[-1]

    yield build
    for platform in built:
        platform.instance.dispose()
