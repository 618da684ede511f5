"""10,000 single-record requests from 32 connections against the built Bento: no error, no lost log record.

On the shared 2-core machine the service answers 250 to 1,300 req/s, so the load takes 8 to 40 s; each
request has a 15 s timeout and the whole load a 150 s deadline, so a stalled service fails the test
instead of hanging it. The load generator is the benchmarks' own (`benchmarks/loadgen.py`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.loadgen import payloads, run, summary
from ml_platform.lib.inference_log import OPEN_SUFFIX, closed_files, read_records

REQUESTS, CONCURRENCY = 10_000, 32


@pytest.fixture(scope="module")
def loaded(service, platform):
    """The answers to the load, then the inference log the service leaves after a clean shutdown."""
    bodies = payloads(platform.spec.feature_names, count=256, seed=5)
    answers, elapsed = run(int(service.url.rsplit(":", 1)[1]), bodies, REQUESTS, CONCURRENCY,
                           timeout=15, max_seconds=150, keep_bodies=True)
    print(f"\n{REQUESTS} requests at concurrency {CONCURRENCY}: "
          + ", ".join(f"{k} {v:.4g}" for k, v in summary(answers, elapsed).items()))
    exit_code = service.stop()
    log_dir = Path(service.output.parent / f"inference-log-{service.url.rsplit(':', 1)[1]}")
    return answers, exit_code, log_dir


def test_every_request_gets_a_200_with_its_own_request_id(loaded):
    answers, _, _ = loaded
    assert len(answers) == REQUESTS
    failures = Counter((a.status, a.body[:200]) for a in answers if a.status != 200)
    assert not failures, failures.most_common(5)
    ids = [a.request_id for a in answers]
    assert all(ids) and len(set(ids)) == REQUESTS, Counter(ids).most_common(3)
    for answer in answers:
        [prediction] = json.loads(answer.body)
        assert prediction["request_id"] == answer.request_id and prediction["model_version"] == "1"


def test_after_a_clean_shutdown_every_request_is_in_the_inference_log_exactly_once(loaded):
    answers, exit_code, log_dir = loaded
    assert exit_code == 0
    assert not list(log_dir.glob(f"*{OPEN_SUFFIX}")), "the last file must be closed on shutdown"
    logged = Counter(r["request_id"] for f in closed_files(log_dir) for r in read_records(f))
    sent = {a.request_id for a in answers if a.status == 200}
    missing, extra = sent - set(logged), set(logged) - sent
    duplicated = {i: n for i, n in logged.items() if n > 1}
    assert (len(missing), len(extra), len(duplicated)) == (0, 0, 0), (
        f"{len(missing)} missing, e.g. {sorted(missing)[:3]}; {len(extra)} never answered; "
        f"{len(duplicated)} logged more than once, e.g. {list(duplicated.items())[:3]}")
