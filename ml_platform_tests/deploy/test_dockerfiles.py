"""The images, checked statically (no Docker engine here): pinned base, non-root, a healthcheck, no secrets,
and only hashed pins installed (`pip install --require-hashes` of complete locks)."""

import re
from pathlib import Path

import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR

DOCKER = PROJECT_DIR / "deploy" / "docker"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)
HASHED_PIN = re.compile(r"[A-Za-z0-9_.-]+==[\w.]+( \\\n    --hash=sha256:[0-9a-f]{64})+")
LOCKS = ["requirements.lock", "requirements-dev.lock", "deploy/docker/requirements-k8s.txt", "serving/requirements.txt"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines()
                                           if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def entries(lock: str) -> list[str]:
    """A lock's requirements, each with its hash lines (as scripts/relock.py writes them); comments and -r left out."""
    blocks = re.split(r"\n(?=\S)", (PROJECT_DIR / lock).read_text().strip())
    return [block for block in blocks if not block.startswith(("#", "-r "))]


@pytest.mark.parametrize("name", ["user-code.Dockerfile", "bento.Dockerfile"])
def test_image_is_pinned_non_root_healthchecked_and_secret_free(name):
    steps = instructions(DOCKER / name)
    kinds = [kind for kind, _ in steps]
    base = dict(steps)["FROM"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", base), base
    user = [args for kind, args in steps if kind == "USER"]
    assert user and not user[-1].startswith(("0", "root")), user
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN"), "USER must follow every RUN"
    assert "HEALTHCHECK" in kinds and "CMD" in kinds
    for kind, args in steps:
        if kind in ("ENV", "ARG"):
            assert not SECRET_NAME.search(args), f"{kind} {args}"
        if kind == "COPY":
            assert ".env" not in args.split() and "secret" not in args.lower()
    ignore = (DOCKER / f"{name}.dockerignore").read_text()
    assert "**/.env" in ignore


def test_user_code_image_installs_the_lock_file_and_serves_the_code_location():
    steps = instructions(DOCKER / "user-code.Dockerfile")
    runs = " ".join(args for kind, args in steps if kind == "RUN")
    assert "pip install --no-deps --require-hashes -r requirements.lock -r requirements-k8s.txt && pip check" in runs
    extra = entries("deploy/docker/requirements-k8s.txt")
    assert extra and set(extra) <= set(entries("requirements.lock")), "the same pins and hashes as requirements.lock"
    cmd = dict(steps)["CMD"]
    assert '"code-server", "start"' in cmd and '"ml_platform.definitions"' in cmd and '"3030"' in cmd
    assert "grpc-health-check" in dict(steps)["HEALTHCHECK"]
    assert "**\n" in (DOCKER / "user-code.Dockerfile.dockerignore").read_text(), "the context is an allow-list"


def test_bento_image_serves_the_exported_bento_with_livez_healthcheck():
    steps = dict(instructions(DOCKER / "bento.Dockerfile"))
    assert "/livez" in steps["HEALTHCHECK"] and '"bentoml", "serve"' in steps["CMD"] and '"3000"' in steps["CMD"]
    assert "BENTOML_HOME=/tmp/bentoml" in steps["ENV"], "BentoML must write only to /tmp (read-only root fs)"


TEST_TOOLS = {"pytest", "pytest-timeout", "playwright", "schemathesis", "hypothesis", "py-spy", "kubernetes-validate"}


@pytest.mark.parametrize("lock", ["requirements.lock", "deploy/docker/requirements-k8s.txt", "serving/requirements.txt"])
def test_what_images_install_holds_no_test_tool(lock):
    assert not {entry.split("==")[0].lower() for entry in entries(lock)} & TEST_TOOLS


@pytest.mark.parametrize("lock", LOCKS)
def test_every_pin_of_every_lock_carries_its_hashes(lock):
    unhashed = [entry.split(" ")[0] for entry in entries(lock) if not HASHED_PIN.fullmatch(entry)]
    assert entries(lock) and not unhashed, f"{lock}: not `name==version` with sha256 hashes: {unhashed}"


@pytest.mark.parametrize("name", ["user-code.Dockerfile", "bento.Dockerfile"])
def test_every_pip_install_in_an_image_requires_hashes(name):
    installs = [args for kind, args in instructions(DOCKER / name) if kind == "RUN" and "pip install" in args]
    assert installs and all("--require-hashes" in args for args in installs), installs


def test_bento_image_installs_the_bentos_full_hashed_lock():
    """Not BentoML's env/python/requirements.txt: BentoML appends an unhashed `bentoml==` line to it."""
    steps = instructions(DOCKER / "bento.Dockerfile")
    assert ("COPY", "src/serving/requirements.txt ./src/serving/requirements.txt") in steps
    runs = " ".join(args for kind, args in steps if kind == "RUN")
    assert "pip install --no-deps --require-hashes -r src/serving/requirements.txt && pip check" in runs
    bentofile = yaml.safe_load((PROJECT_DIR / "serving" / "bentofile.yaml").read_text())
    assert "serving/requirements.txt" in bentofile["include"] and bentofile["python"]["lock_packages"] is False
    assert set(entries("serving/requirements.txt")) <= set(entries("requirements.lock")), "requirements.lock's pins"


def test_the_dev_lock_adds_the_test_tools_to_the_runtime_lock():
    lines = (PROJECT_DIR / "requirements-dev.lock").read_text().splitlines()
    assert "-r requirements.lock" in lines
    assert TEST_TOOLS <= {line.split("==")[0].lower() for line in lines if "==" in line}
