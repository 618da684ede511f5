"""Nothing the log meets costs an answered record silently: a failing shadow, a folder that refuses writes.

A shadow model that raises on every call leaves every champion record in the log and counts its own
errors; a log folder made read-only mid-run turns /readyz unready (so an orchestrator drains the
replica), counts what it drops, and recovers by itself once the folder takes writes again.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import numpy as np
import pytest

from ml_platform.lib import model_store
from ml_platform.lib.inference_log import closed_files, read_records
from ml_platform.lib.served_model import from_store
from ml_platform_tests.serving.conftest import RECORD, register_variant, samples, serving
from ml_platform_tests.waiting import eventually

# Root ignores permission bits; without these capabilities a read-only folder refuses root too.
UNPRIVILEGED = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--") if os.getuid() == 0 else ()


@pytest.fixture(scope="module")
def broken_challenger(platform):
    """A registered version whose model returns NaN probabilities, so every prediction of it raises."""
    good = model_store.find(platform.bentoml_home, model_store.tag_for(platform.spec.name, "2"))
    model = copy.deepcopy(from_store(good).model)
    model[-1].coef_ = np.full_like(model[-1].coef_, np.nan)
    version = register_variant(platform, model)
    platform.registry.set_alias("challenger", version)
    yield version
    platform.registry.delete_alias("challenger")


def test_a_shadow_that_raises_on_every_call_leaves_every_champion_answer_in_the_log(platform, broken_challenger):
    with serving(platform, ML_PLATFORM_SHADOW_ALIAS="challenger") as service, service.client() as client:
        eventually(lambda: (client.get("/model").json()["shadow"] or {}).get("model_version") == broken_challenger,
                   what="the broken challenger loaded as shadow")
        answered = []
        for n in range(30):
            response = client.post("/predict", json=[RECORD, {**RECORD, "age": 20 + n}])
            assert response.status_code == 200
            answered += [p["record_id"] for p in response.json()]
        errors = eventually(lambda: sum(s.value for s in samples(client, "ml_platform_shadow_errors_total")) or None,
                            what="shadow errors counted")
        assert client.get("/readyz").status_code == 200
        assert service.stop() == 0
    logged = [r for f in closed_files(Path(service.output.parent / f"inference-log-{service.url.rsplit(':', 1)[1]}"))
              for r in read_records(f)]
    assert sorted(r["record_id"] for r in logged) == sorted(answered)
    assert not any("shadow" in r for r in logged)
    assert errors >= 1


def written(log_dir: Path) -> set[str]:
    """Record ids in the folder's files, open or closed (a file closed while listed is read next time)."""
    try:
        return {r["record_id"] for f in log_dir.iterdir() if f.is_file() for r in read_records(f)}
    except FileNotFoundError:
        return set()


def test_a_log_folder_that_refuses_writes_makes_the_replica_unready_and_counts_what_it_drops(platform, tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    with serving(platform, prefix=UNPRIVILEGED, ML_PLATFORM_INFERENCE_LOG_DIR=str(log_dir),
                 ML_PLATFORM_INFERENCE_LOG_MAX_BYTES="2000") as service, service.client() as client:
        before = [p["record_id"] for n in range(10) for p in client.post("/predict", json=RECORD).json()]
        # The writer is asynchronous: what it still holds when the folder turns read-only is dropped (and
        # counted), so the outage starts once the answers before it are in files.
        eventually(lambda: set(before) <= written(log_dir), what="the answers before the outage written")
        log_dir.chmod(0o555)
        try:
            def unready():
                client.post("/predict", json=RECORD)  # the next rotation or new file meets the refusal
                response = client.get("/readyz")
                return response.status_code == 503 and response

            body = eventually(unready, what="/readyz turning unready").json()
            assert body["why"] == "the inference log does not take writes", "in words: no path to anyone"
            logged = client.get("/model").json()["inference_log"]
            assert logged["writable"] is False and "Permission denied" in logged["error"]
            def dropped_after_one_more():
                client.post("/predict", json=RECORD)  # a new file is needed now, and the folder refuses it
                return sum(s.value for s in samples(client, "ml_platform_inference_log_dropped_total")
                           if s.labels.get("reason") == "write_error")

            dropped = eventually(dropped_after_one_more, what="dropped records counted")
            assert client.post("/predict", json=RECORD).status_code == 200, "answers go on while draining"
        finally:
            log_dir.chmod(0o755)
        eventually(lambda: client.get("/readyz").status_code == 200, timeout=120,
                   what="ready again once the folder takes writes")
        after = [p["record_id"] for p in client.post("/predict", json=RECORD).json()]
        assert service.stop() == 0
    logged = {r["record_id"] for f in closed_files(log_dir) for r in read_records(f)}
    assert set(before) <= logged and set(after) <= logged, "nothing written before or after the outage is lost"
    assert dropped >= 1
