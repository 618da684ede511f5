"""The monitoring objects in the kustomize base are wired: each ServiceMonitor finds its Service and port,
sets the job the alert rules expect, and the code location pushes to the Pushgateway the base runs."""

import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.test_k8s_manifests import K8S, OVERLAYS, by_kind
from ml_platform_tests.deploy.kustomize import build


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_monitors_select_the_services_and_set_the_rules_jobs(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    scrape = yaml.safe_load((PROJECT_DIR / "deploy" / "monitoring" / "prometheus.yml").read_text())
    honor = {job["job_name"]: job.get("honor_labels", False) for job in scrape["scrape_configs"]}
    models = {o["metadata"]["labels"]["ml-platform/model"] for (kind, _), o in objects.items()
              if kind == "Deployment" and o["metadata"]["labels"].get("app.kubernetes.io/name") == "bento"}
    wanted = {"bento": [("Service", f"bento-{model.replace('_', '-')}") for model in sorted(models)],
              "pushgateway": [("Service", "pushgateway")]}
    assert len(wanted["bento"]) >= 2, "one Bento Service per declared model"
    for name, services in wanted.items():
        monitor = objects[("ServiceMonitor", name)]
        assert sorted(key for key, s in objects.items() if key[0] == "Service"
                      and monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()) == services
        [endpoint] = monitor["spec"]["endpoints"]
        assert all(endpoint["port"] in {p["name"] for p in objects[key]["spec"]["ports"]} for key in services)
        relabel, *by_model = endpoint["relabelings"]
        assert relabel["targetLabel"] == "job" and relabel["replacement"] in honor
        assert endpoint.get("honorLabels", False) == honor[relabel["replacement"]]
        if name == "bento":  # every series names its model, as the alert rules group by it
            assert by_model == [{"action": "replace", "sourceLabels": ["__meta_kubernetes_service_label_ml_platform_model"],
                                 "targetLabel": "model"}]
            assert all(objects[key]["metadata"]["labels"]["ml-platform/model"] in models for key in services)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_code_location_pushes_to_the_pushgateway_service(overlay):
    objects = by_kind(build(K8S / "overlays" / overlay))
    url = objects[("ConfigMap", "ml-platform-env")]["data"]["ML_PLATFORM_PUSHGATEWAY_URL"]
    service = objects[("Service", "pushgateway")]
    assert url == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    pod = objects[("Deployment", "pushgateway")]["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["args"] == [f"--web.listen-address=:{container['ports'][0]['containerPort']}"]
    egress = [o for o in objects.values() if o["kind"] == "NetworkPolicy" and "Egress" in o["spec"]["policyTypes"]]
    assert all(p["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "bento"}} for p in egress), (
        "an egress policy on the Dagster pods must let them reach the Pushgateway")
