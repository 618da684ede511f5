"""The BentoML patches of `serving/bentoml_hot_path.py` take effect on BentoML's own request path.

They touch BentoML internals, so bentoml is pinned exactly; an upgrade that moves or renames what they
patch fails here, loudly, instead of silently bringing back a slower or stalling service.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tomllib

import bentoml
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from ml_platform.definitions import PROJECT_DIR
from serving.bentoml_hot_path import PINNED_BENTOML, disarm_request_timers


def test_bentoml_is_pinned_exactly_to_the_version_the_patches_were_written_for():
    dependencies = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"bentoml=={PINNED_BENTOML}" in dependencies
    assert bentoml.__version__ == PINNED_BENTOML


def test_on_bentomls_own_request_path_every_patch_takes_effect(platform, tmp_path):
    """Also: a served request leaves none of our objects in a reference cycle (before, each left its
    `Response` and a closure naming it, with the request's whole ASGI chain hanging off them)."""
    env = {**os.environ, "BENTOML_HOME": platform.bentoml_home, "ML_PLATFORM_MODEL_TAG": "customer-segmentation:v1",
           "ML_PLATFORM_INFERENCE_LOG_DIR": str(tmp_path / "log"), "PYTHONPATH": str(PROJECT_DIR)}
    env.pop("MLFLOW_TRACKING_URI", None)
    probe = subprocess.run([sys.executable, "-m", "ml_platform_tests.serving.hot_path_probe"], cwd=PROJECT_DIR,
                           env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen == {"statuses": [200], "request_timers_alive": 0, "tracing_middleware": False,
                    "timeout_middleware": True, "cyclic_garbage_of_ours": []}


def test_the_request_timeout_still_answers_504_and_leaves_no_timer_behind():
    disarm_request_timers()

    async def slow_app(scope, receive, send):
        await asyncio.sleep(5)

    async def call() -> list[dict]:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        await TimeoutMiddleware(slow_app, timeout=0.2)({"type": "http", "method": "POST", "path": "/"}, receive, send)
        return sent

    sent = asyncio.run(call())
    assert sent[0]["status"] == 504
    assert not [o for o in gc.get_objects() if type(o).__name__ == "TimerHandle" and "_set_timer_out" in repr(o)]
