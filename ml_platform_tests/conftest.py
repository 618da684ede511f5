"""Shared fixtures: whole platforms (`platforms.py`) in temporary directories, the S3 server, the test order."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest

os.environ["BENTOML_HOME"] = tempfile.mkdtemp(prefix="bentoml-home-")  # never the repo's own store
os.environ["BENTOML_DO_NOT_TRACK"] = "True"
os.environ["MLFLOW_ENABLE_TELEMETRY"] = "false"

from ml_platform.quickstart import run_platform  # noqa: E402
from ml_platform_tests.leaks import kill_survivors, mark_session  # noqa: E402
from ml_platform_tests.object_store import S3Server, running_s3  # noqa: E402
from ml_platform_tests.platforms import (  # noqa: E402,F401  (tests import these from here)
    DEFAULT_SPEC, FAST_TRAINING, Platform, clone_platform, new_platform, platform_at, write_spec)
from ml_platform_tests.shuffled_order import SEED_VARIABLE, session_seed, shuffle  # noqa: E402

STORAGE_KINDS = ["local", "s3"]
CLONES = itertools.count()  # names of trained_platform copies, all as long as "platform-template"


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


@pytest.fixture(scope="session")
def trained_template(tmp_path_factory) -> Platform:
    """The default platform after `make run` (a champion, its Bento, both batches checked for drift),
    built once per worker; tests take copies (`trained_platform`), never this."""
    platform = new_platform(tmp_path_factory.getbasetemp() / "platform-template")
    try:
        assert run_platform(platform.defs, platform.instance) == []
    finally:
        platform.instance.dispose()
    return platform


@pytest.fixture
def trained_platform(trained_template, tmp_path_factory):
    """A platform of its own, as `make run` leaves it: a copy of the worker's trained template."""
    platform = clone_platform(trained_template, tmp_path_factory.getbasetemp() / f"platform-{next(CLONES):08d}")
    yield platform
    platform.instance.dispose()


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
