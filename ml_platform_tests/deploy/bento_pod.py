"""The Bento Deployment's pod on 127.0.0.1: the image's environment and command, the container's env and
volume mounts as the kubelet builds them, over local directories.

Each emptyDir is a folder of its own and a Secret is a folder holding its items; any other volume is
refused (the pod shares no volume: models and the inference log go through the object store). A mount
inside another mount is a symlink, which is what the container runtime makes of it. Every env value that is a path under a mount
becomes the local directory behind it; apart from the tracking URI, nothing else changes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.service_process import HOST
from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.kubelet import container_env
from ml_platform_tests.deploy.test_dockerfiles import instructions

BENTO_DOCKERFILE = PROJECT_DIR / "deploy" / "docker" / "bento.Dockerfile"
IMAGE_BENTO = "/home/bentoml/bento"  # where the image holds the exported Bento (its WORKDIR)


@dataclass(frozen=True)
class Mounts:
    """(path in the pod, local directory) pairs."""

    pairs: tuple[tuple[str, Path], ...]

    def local(self, value: str) -> str:
        """`value` with a pod path rewritten to the local directory of the innermost mount holding it."""
        for mount_path, local in sorted(self.pairs, key=lambda pair: -len(pair[0])):
            if value == mount_path or value.startswith(mount_path + "/"):
                return str(local) + value[len(mount_path):]
        return value


def mount_volumes(pod: dict, root: Path, secrets: dict[str, dict], bento_dir: Path) -> Mounts:
    """The pod's file system: the image's Bento at `bento_dir`, and each of the container's volume mounts."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = sorted(pod["containers"][0]["volumeMounts"], key=lambda m: m["mountPath"].count("/"))
    made: list[tuple[str, Path]] = [(IMAGE_BENTO, bento_dir)]
    for mount in mounts:
        volume = volumes[mount["name"]]
        if "emptyDir" in volume:
            source = root / "emptyDir" / mount["name"]
        else:
            assert "secret" in volume, f"volume {mount['name']}: the Bento pod mounts only emptyDirs and Secrets"
            source = root / "secret" / mount["name"]
            source.mkdir(parents=True, exist_ok=True)
            for item in volume["secret"]["items"]:
                (source / item["path"]).write_text(secrets[volume["secret"]["secretName"]][item["key"]])
        source = source / mount.get("subPath", "")
        source.mkdir(parents=True, exist_ok=True)
        outer = Mounts(tuple(made)).local(mount["mountPath"])
        if outer != mount["mountPath"]:  # nested in a mount already made
            Path(outer).parent.mkdir(parents=True, exist_ok=True)
            Path(outer).symlink_to(source, target_is_directory=True)
        made.append((mount["mountPath"], source))
    return Mounts(tuple(made))


def image_env() -> dict[str, str]:
    """The ENV of bento.Dockerfile."""
    env = {}
    for kind, args in instructions(BENTO_DOCKERFILE):
        if kind == "ENV":
            env.update(pair.split("=", 1) for pair in args.split())
    return env


def pod_env(deployment: dict, objects: dict, mounts: Mounts, tracking_uri: str, secrets: dict[str, dict],
            home: Path) -> dict[str, str]:
    """The image's ENV under the container's env, paths made local, MLflow's service URL made `tracking_uri`."""
    config_maps = {name: o["data"] for (kind, name), o in objects.items() if kind == "ConfigMap"}
    declared = {**image_env(), **container_env(deployment, config_maps, secrets)}
    env = {name: mounts.local(value) for name, value in declared.items()}
    assert declared["MLFLOW_TRACKING_URI"] == config_maps["ml-platform-env"]["MLFLOW_TRACKING_URI"]
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    return {**env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "HOME": str(home)}


def start(bento_dir: Path, env: dict[str, str], port: int, output: Path) -> subprocess.Popen:
    """The image's CMD (`bentoml serve <the Bento> --port 3000`) in its WORKDIR, on 127.0.0.1:`port`."""
    command = dict(instructions(BENTO_DOCKERFILE))["CMD"]
    assert f'"bentoml", "serve", "{IMAGE_BENTO}"' in command, command
    with output.open("w") as sink:
        return subprocess.Popen([sys.executable, "-m", "bentoml", "serve", str(bento_dir), "--host", HOST,
                                 "--port", str(port)], cwd=bento_dir, env=env, start_new_session=True,
                                stdout=sink, stderr=subprocess.STDOUT)
