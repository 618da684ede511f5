"""Schemathesis against the service's own OpenAPI document: no 5xx, no response outside the schema."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx


def test_generated_requests_never_get_a_5xx_or_a_response_off_the_schema(service, tmp_path):
    document = httpx.get(f"{service.url}/docs.json", timeout=10).json()
    # BentoML never marks a request body as required; without that, "no body" counts as valid input.
    document["paths"]["/predict"]["post"]["requestBody"]["required"] = True
    (tmp_path / "openapi.json").write_text(json.dumps(document))

    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", str(tmp_path / "openapi.json"), "--url", service.url,
         "--checks", "all", "--max-examples", "200", "--seed", "7", "--request-timeout", "10"],
        capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stdout[-4000:]
    generated = int(re.search(r"(\d+) generated", run.stdout).group(1))
    assert generated > 150 and "No issues found" in run.stdout

    metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
    by_status = {code: float(count) for code, count in re.findall(
        r'ml_platform_requests_total\{endpoint="/predict",status="(\d+)"\} ([0-9.e+]+)', metrics)}
    assert by_status.get("400", 0) > 50 and by_status.get("200", 0) > 0, by_status
    assert sum(count for code, count in by_status.items() if code.startswith("5")) == 0, by_status
