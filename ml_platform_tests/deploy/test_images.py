"""Our images are named once, in deploy/images.env (registry, path, digest), and every rendered reference is
that one: the Helm values (webserver, daemon, code server, run launcher), the instance's job_image, and
each overlay's kustomize output. No image anywhere is a bare name that a node would resolve on its own."""

import subprocess
import sys

import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.chart import chart_image, chart_pods, chart_values
from ml_platform_tests.deploy.job_checks import IMAGE
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.pod_security import pod_spec_of
from ml_platform_tests.deploy.test_k8s_manifests import K8S, OVERLAYS

sys.path.insert(0, str(PROJECT_DIR / "deploy"))
import images  # noqa: E402  (deploy/images.py, the render step)

OURS = images.read_images()


def has_registry(reference: str) -> bool:
    first = reference.split("/", 1)[0]
    return "/" in reference and ("." in first or ":" in first or first == "localhost")


def test_the_rendered_files_are_what_images_env_says():
    check = subprocess.run([sys.executable, str(PROJECT_DIR / "deploy" / "images.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_helm_values_and_the_instance_use_the_one_user_code_image():
    values = chart_values()
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    instance = yaml.safe_load((PROJECT_DIR / "deploy" / "dagster-k8s.yaml").read_text())
    used = {chart_image(launcher["image"]), instance["run_launcher"]["config"]["job_image"], IMAGE,
            *(c["image"] for pod in chart_pods(values).values() for c in pod["containers"])}
    assert used == {OURS["USER_CODE_IMAGE"]}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_kustomize_image_is_ours_from_the_one_source_or_a_registry_path(overlay):
    pods = [pod_spec_of(o) for o in build(K8S / "overlays" / overlay) if pod_spec_of(o)]
    references = {c["image"] for pod in pods for c in pod.get("initContainers", []) + pod["containers"]}
    assert set(OURS.values()) <= references, "the user code and every model's Bento"
    assert all(has_registry(r) for r in references), references
    assert not [r for r in references if "ml-platform/" in r and r not in OURS.values()]


def test_every_chart_image_names_its_registry():
    pods = chart_pods()
    assert all(has_registry(c["image"]) for pod in pods.values() for c in pod["initContainers"] + pod["containers"])


@pytest.mark.parametrize("reference", ["ml-platform/user-code:0.1.0", "registry.example.com/ml-platform/user-code:0.1.0",
                                       "registry.example.com/ml-platform/user-code@sha256:abc"])
def test_the_render_step_refuses_a_reference_without_registry_and_digest(reference):
    with pytest.raises(ValueError):
        images.outputs({**OURS, "USER_CODE_IMAGE": reference})


def test_the_render_step_refuses_a_name_that_is_neither_the_user_code_nor_a_models_bento():
    with pytest.raises(ValueError, match="BENTO_IMAGE_<MODEL>"):
        images.outputs({**OURS, "BENTO_IMAGE": OURS["BENTO_IMAGE_IRIS"]})
