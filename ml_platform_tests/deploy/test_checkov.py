"""checkov passes on deploy/: the Dockerfiles, the Helm values, the instance config and both built overlays.

checkov pins its own dependencies, so it lives in its own venv under .cache/ (git-ignored), created on
the first run (about 30 s) from PyPI and reused after. Overlays are scanned as built (the objects that
get applied), since their patch files alone are partial objects. Every waiver carries its reason.
"""

import json
import subprocess
import sys

import yaml

from ml_platform.definitions import PROJECT_DIR
from ml_platform_tests.deploy.kustomize import build

CHECKOV = "checkov==3.3.30"
VENV = PROJECT_DIR / ".cache" / "checkov-venv"


def checkov_bin() -> str:
    stamp = VENV / f".installed-{CHECKOV}"
    if not stamp.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", CHECKOV], check=True)
        stamp.touch()
    return str(VENV / "bin" / "checkov")


def json_documents(text: str) -> list[dict]:
    """checkov prints one JSON value per scanned target, some of them lists."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        value, index = decoder.raw_decode(text, index)
        documents += value if isinstance(value, list) else [value]
    return documents


def test_checkov_passes_on_deploy_with_every_waiver_justified(tmp_path):
    for overlay in ("dev", "prod"):
        objects = build(PROJECT_DIR / "deploy" / "k8s" / "overlays" / overlay)
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(objects))
    deploy = PROJECT_DIR / "deploy"
    scan = subprocess.run(
        [checkov_bin(), "-d", str(deploy / "docker"), "-d", str(deploy / "helm"), "-f", str(deploy / "dagster-k8s.yaml"),
         "-d", str(tmp_path), "--framework", "dockerfile", "kubernetes", "secrets",
         "--skip-download", "-o", "json"], capture_output=True, text=True, timeout=240)
    reports = json_documents(scan.stdout)
    assert {r["check_type"] for r in reports} >= {"dockerfile", "kubernetes"}
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0, report["check_type"]
        failed = [(c["check_id"], c["file_path"], c["resource"]) for c in report["results"]["failed_checks"]]
        assert failed == [], failed
        for skipped in report["results"].get("skipped_checks", []):
            assert len(skipped.get("check_result", {}).get("suppress_comment", "")) > 15, skipped["check_id"]
    assert scan.returncode == 0, scan.stderr[-2000:]
    assert sum(r["summary"]["passed"] for r in reports) > 500
    assert sum(r["summary"]["skipped"] for r in reports) >= 6, "the waivers were read"
