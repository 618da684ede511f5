"""Security basics: no secret in the repo or the images, containers never run as root, and tokens and
passwords reach the service and the pods only from the environment or Kubernetes Secrets.

`deploy/test_dockerfiles.py` checks the two images it names and `deploy/test_k8s_manifests.py` the Bento's
pod; here are every Dockerfile and every container, and where credentials come from.
"""

from __future__ import annotations

import re

import pytest
import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.kustomize import build
from ml_platform_tests.deploy.test_dockerfiles import SECRET_NAME, instructions
from ml_platform_tests.secret_scan import scan_repo, scan_text

DEPLOY = PROJECT_DIR / "deploy"
# (file, literal): why it is not a secret. A stale entry fails too, so the list stays this short.
ALLOWED = {
    ("ml_platform_tests/deploy/conftest.py", "local-test-only"):
        "password of the throwaway PostgreSQL the deploy tests start on 127.0.0.1",
    ("ml_platform_tests/deploy/stand_in_api.py", "stand-in"):
        "kubeconfig login for the in-process stand-in API server, which checks no credentials",
    ("ml_platform_tests/serving/test_guarded_shadow_and_log.py", "s3cret-token"):
        "the bearer token that test gives its own loopback service",
    ("deploy/helm/values.yaml", "set-in-dagster-postgresql-secret"):
        "a placeholder the chart ignores: generatePostgresqlPasswordSecret is false (asserted below)",
}


def test_no_secret_in_any_tracked_file():
    hits = scan_repo(PROJECT_DIR)
    unexpected = [str(h) for h in hits if (h.path, h.value) not in ALLOWED]
    assert unexpected == [], "move these to the environment or a Secret:\n" + "\n".join(unexpected)
    stale = set(ALLOWED) - {(h.path, h.value) for h in hits}
    assert not stale, f"allow-list entries no longer found, remove them: {stale}"


def test_the_scanner_finds_planted_secrets_and_passes_references():
    # Assembled at run time, so that this file itself holds no secret-looking literal for the scan above.
    aws_id, key_head = "AKIA" + "Q7ZX" * 4, "-----BEGIN " + "RSA PRIVATE KEY-----"
    lines = ["a: 1", key_head, f"id: {aws_id}", "db_password" + ": Hunter2Hunter2",
             "url: postgresql://app" + ":Pl4inText99@db:5432/x", "api_token" + " = 'ghx81kd02mfa8v'"]
    planted = "\n".join(lines) + "\n"
    found = {(h.line, h.kind) for h in scan_text("settings.env", planted)}
    assert found == {(2, "private key"), (3, "AWS access key id"), (4, "literal db_password"),
                     (5, "password in a URL"), (6, "literal api_token")}
    references = ("password: ${PG_PASSWORD}\nuri: postgresql://app:$(PG_PASSWORD)@db/x\n"
                  "token: {{ .Values.token }}\npassword:\n  env: DAGSTER_PG_PASSWORD\napi_key: <your-key>\n")
    assert scan_text("values.yaml", references) == []
    assert scan_text("app.py", "api_token = settings.api_token\ntoken: str | None = None\n") == []


def test_every_dockerfile_ends_as_a_non_root_user_and_bakes_no_secret():
    """Also multi-stage builds: a FROM after the last USER starts a stage that runs as root again."""
    dockerfiles = sorted(p for p in (DEPLOY / "docker").iterdir() if p.name.endswith("Dockerfile"))
    assert len(dockerfiles) >= 2
    for path in dockerfiles:
        steps = instructions(path)
        kinds = [kind for kind, _ in steps]
        assert "USER" in kinds, f"{path.name} runs as root"
        last_user = len(kinds) - 1 - kinds[::-1].index("USER")
        assert last_user > max(i for i, kind in enumerate(kinds) if kind == "FROM"), path.name
        uid = steps[last_user][1].split(":")[0].strip()
        assert uid != "root" and (not uid.isdigit() or int(uid) > 0), f"{path.name}: USER {uid}"
        for kind, args in steps:
            if kind in ("ENV", "ARG"):
                names = re.findall(r"(\w+)=", args) or args.split()[:1]
                assert not any(SECRET_NAME.search(n) for n in names), f"{path.name}: {kind} {args}"
                assert scan_text(path.name, args.replace(" ", "\n")) == [], f"{path.name}: {kind} {args}"


def pod_specs(obj: dict) -> list[dict]:
    spec = obj.get("spec", {})
    if obj["kind"] == "Pod":
        return [spec]
    spec = spec.get("jobTemplate", {}).get("spec", spec)
    return [spec["template"]["spec"]] if "template" in spec else []


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_container_in_the_rendered_manifests_runs_as_non_root(overlay):
    checked = []
    for obj in build(DEPLOY / "k8s" / "overlays" / overlay):
        for pod in pod_specs(obj):
            for container in pod["containers"] + pod.get("initContainers", []):
                context = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
                where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
                assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) > 0, where
                assert context.get("allowPrivilegeEscalation") is False and not context.get("privileged"), where
                checked.append(where)
    assert len(checked) >= 3, checked


def test_every_dagster_pod_the_helm_values_and_instance_start_runs_as_non_root():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    pods = {"webserver": values["dagsterWebserver"], "daemon": values["dagsterDaemon"],
            **{d["name"]: d for d in values["dagster-user-deployments"]["deployments"]}}
    contexts = {name: pod.get("podSecurityContext", {}) for name, pod in pods.items()}
    contexts["run pods (Helm)"] = values["runLauncher"]["config"]["k8sRunLauncher"].get("securityContext", {})
    instance = yaml.safe_load((DEPLOY / "dagster-k8s.yaml").read_text())
    contexts["run pods (instance)"] = instance["run_launcher"]["config"].get("security_context", {})
    for name, context in contexts.items():
        assert context.get("runAsNonRoot") is True and context.get("runAsUser", 0) > 0, (name, context)


def test_the_service_reads_its_api_token_only_from_the_environment_or_a_mounted_secret(monkeypatch, tmp_path):
    from serving.settings import Settings

    sources = {p.relative_to(PROJECT_DIR).as_posix(): p.read_text() for p in (PROJECT_DIR / "serving").iterdir()
               if p.suffix in (".py", ".yaml", ".txt")}
    readers = [name for name, text in sources.items() if "ML_PLATFORM_API_TOKEN" in text]
    assert readers == ["serving/settings.py"]
    assert [n for n, text in sources.items() if re.search(r"\bapi_token\s*=", text)] == ["serving/settings.py"]
    assert "envs" not in yaml.safe_load(sources["serving/bentofile.yaml"]), "a Bento must not bake environment"
    monkeypatch.delenv("ML_PLATFORM_API_TOKEN", raising=False)
    monkeypatch.delenv("ML_PLATFORM_API_TOKEN_FILE", raising=False)
    assert Settings.from_env().api_token is None, "no token unless one is set: no default token"
    monkeypatch.setenv("ML_PLATFORM_API_TOKEN", "from-the-environment")
    assert Settings.from_env().api_token == "from-the-environment"
    monkeypatch.delenv("ML_PLATFORM_API_TOKEN")
    mounted = tmp_path / "api-token"
    mounted.write_text("from-a-secret-volume\n")
    monkeypatch.setenv("ML_PLATFORM_API_TOKEN_FILE", str(mounted))
    assert Settings.from_env().api_token == "from-a-secret-volume"
    mounted.write_text("")
    with pytest.raises(ValueError, match="empty"):
        Settings.from_env()


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_manifests_take_passwords_and_tokens_from_secrets_only(overlay):
    objects = build(DEPLOY / "k8s" / "overlays" / overlay)
    assert not [o for o in objects if o["kind"] == "Secret"], "Secrets are made beside the release, never in git"
    for config_map in (o for o in objects if o["kind"] == "ConfigMap"):
        assert not [k for k in config_map.get("data", {}) if SECRET_NAME.search(k)], config_map["metadata"]["name"]
    for pod in (p for o in objects for p in pod_specs(o)):
        secret_mounts = {m["mountPath"] for c in pod["containers"] for m in c.get("volumeMounts", [])
                         if "secret" in next((v for v in pod.get("volumes", []) if v["name"] == m["name"]), {})}
        for container in pod["containers"]:
            assert all(set(source) <= {"configMapRef", "secretRef"} for source in container.get("envFrom", []))
            for env in container.get("env", []):
                if SECRET_NAME.search(env["name"]) and env["name"].endswith("_FILE"):
                    assert env["value"].rstrip("/").rsplit("/", 1)[0] in secret_mounts, env
                elif SECRET_NAME.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env


def test_helm_values_and_instance_take_the_database_password_from_the_secret():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["generatePostgresqlPasswordSecret"] is False and values["postgresql"]["enabled"] is False
    pods = [values["runLauncher"]["config"]["k8sRunLauncher"], *values["dagster-user-deployments"]["deployments"]]
    assert all(p["envSecrets"] == [{"name": "ml-platform-secrets"}] for p in pods)
    # Other variables may only come from a Secret too (the object store's keys): no literal value.
    assert all("valueFrom" in e and "value" not in e for p in pods for e in p.get("env", [])), pods
    instance = yaml.safe_load((DEPLOY / "dagster-k8s.yaml").read_text())
    assert instance["run_storage"]["config"]["postgres_db"]["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert instance["run_launcher"]["config"]["postgres_password_secret"] == "dagster-postgresql-secret"
