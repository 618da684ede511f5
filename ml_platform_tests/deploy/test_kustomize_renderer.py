"""The tests' kustomize renderer builds what `kubectl kustomize` builds, object for object, on both overlays.

The other manifest tests read the renderer's output; this keeps it honest wherever kubectl is installed
(kubectl ships kustomize; CI machines without it skip this one check only).
"""

import shutil
import subprocess

import pytest
import yaml

from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.test_k8s_manifests import K8S, OVERLAYS

KUBECTL = shutil.which("kubectl")


def keyed(objects: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (which ships kustomize) is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_renderer_builds_what_kubectl_kustomize_builds(overlay):
    rendered = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)],
                              capture_output=True, text=True, check=True, timeout=60).stdout
    theirs = keyed([doc for doc in yaml.safe_load_all(rendered) if doc])
    ours = keyed(build(K8S / "overlays" / overlay))
    assert sorted(ours) == sorted(theirs)
    for key, obj in theirs.items():
        assert ours[key] == obj, key
