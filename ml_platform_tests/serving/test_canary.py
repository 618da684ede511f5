"""Canary mode with the real service (two workers) and the real registry.

A share set as the challenger's registry tag reaches every worker without a restart; the measured share
of challenger answers is the setting within 2 points, a client keeps its model on whichever worker it
lands, and raising the share only adds clients. A challenger that starts failing (it cannot answer a
kind of record that begins arriving mid-run) is reverted by `promotion_decision` within the stated
time, its clients go back to the champion, and the journal lists every move in order.
"""

from __future__ import annotations

import copy
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import dagster as dg
import pytest

from ml_platform.defs.promotion.alias_history import materialization, recorded_moves
from ml_platform.lib import model_store
from ml_platform.lib.alias_moves import move_alias
from ml_platform.lib.canary import set_share
from ml_platform.lib.inference_log import closed_files, read_records
from ml_platform.lib.registry import CHALLENGER
from ml_platform.lib.served_model import from_store
from ml_platform_tests.serving.conftest import RECORD, register_variant, samples, serving
from ml_platform_tests.waiting import eventually

CLIENTS = [f"client-{n}" for n in range(4000)]
REVERT_WITHIN_SECONDS = 30  # log files close after 1 s here, a sensor tick every 2 s, replicas poll every 0.5 s
DECIDE = {"ops": {"promotion_decision": {"config": {"grace_seconds": 2}}}}


def journal(platform, move) -> None:
    platform.instance.report_runless_asset_event(materialization(move))


def answered_by(client, clients: list[str], record: dict = RECORD) -> dict[str, str]:
    """The version that answered each client, one request per client, eight at a time."""
    def ask(name: str) -> str:
        response = client.post("/predict", json=record, headers={"x-client-id": name})
        assert response.status_code == 200, response.text
        return response.json()[0]["model_version"]

    with ThreadPoolExecutor(8) as pool:
        return dict(zip(clients, pool.map(ask, clients)))


def settled(client, shadow: str | None, percent: float) -> None:
    """Until /model shows the shadow and share, then two more polls, so the other worker has them too."""
    def shows() -> bool:
        model = client.get("/model").json()
        return (model["shadow"] or {}).get("model_version") == shadow and model["canary_percent"] == percent

    eventually(shows, 30, f"the service serving v{shadow} to {percent}% of clients")
    time.sleep(1.0)  # workers poll every 0.5 s


def closed_log(log_dir, since: str) -> list[dict]:
    return [r for f in closed_files(log_dir) for r in read_records(f) if r["timestamp"] >= since]


@pytest.fixture(scope="module")
def canary(platform):
    """One service for the module: each test moves the challenger and its share in the registry only."""
    log_dir = platform.resources["loop_storage"].inference_log_path
    platform.registry.delete_alias(CHALLENGER)
    with serving(platform, ML_PLATFORM_SERVICE_WORKERS="2", ML_PLATFORM_INFERENCE_LOG_DIR=str(log_dir),
                 ML_PLATFORM_INFERENCE_LOG_MAX_SECONDS="1") as service:
        yield service, log_dir
    platform.registry.delete_alias(CHALLENGER)
    platform.registry.set_champion("1")


def test_the_share_is_the_setting_sticky_per_client_and_raised_without_a_restart(platform, canary):
    service, log_dir = canary
    registry = platform.registry
    started = datetime.now(timezone.utc).isoformat()
    journal(platform, set_share(registry, "2", 25, "test", "first step"))
    journal(platform, move_alias(registry, CHALLENGER, "2", "test", "canary"))
    with service.client() as client:
        settled(client, "2", 25)
        first = answered_by(client, CLIENTS)
        share = sum(v == "2" for v in first.values()) / len(CLIENTS) * 100
        assert abs(share - 25) <= 2, share
        assert answered_by(client, CLIENTS[:1000]) == {c: first[c] for c in CLIENTS[:1000]}, "a client keeps its model"

        journal(platform, set_share(registry, "2", 50, "test", "next step"))
        settled(client, "2", 50)
        second = answered_by(client, CLIENTS)
        # Both workers answered; /metrics merges their counts (the middleware's multiprocess exposition).
        answered = sum(s.value for s in samples(client, "ml_platform_requests_total")
                       if s.labels == {"endpoint": "/predict", "status": "200"})
        assert answered >= 2 * len(CLIENTS) + 1000, answered
    journal(platform, set_share(registry, "2", 0, "test", "done: v2 answers no share when challenger again"))
    print(f"measured share of challenger answers over {len(CLIENTS)} clients: {share:.1f}% at 25%", end=", ")
    share = sum(v == "2" for v in second.values()) / len(CLIENTS) * 100
    print(f"{share:.1f}% at 50%")
    assert abs(share - 50) <= 2, share
    assert all(second[c] == "2" for c in CLIENTS if first[c] == "2"), "raising the share only adds clients"

    logged = eventually(lambda: len(log := closed_log(log_dir, started)) >= 9000 and log, 10, "the log closing")
    canary_records = [r for r in logged if r.get("answered_by") == "challenger"]
    assert canary_records and all(r["model_version"] == "2" and r["shadow"]["model_version"] == "1"
                                  for r in canary_records), "a canary record carries the champion's answer too"
    assert all(r["model_version"] == "1" and r["shadow"]["model_version"] == "2"
               for r in logged if "answered_by" not in r)


def failing_on_retired_men(platform) -> str:
    """A copy of v2 registered as a new version whose predictions overflow to NaN (and so raise) on the
    records of retired men only: it answers everything else."""
    good = model_store.find(platform.bentoml_home, model_store.tag_for(platform.spec.name, "2"))
    model = copy.deepcopy(from_store(good).model)
    columns = list(model[:-1].get_feature_names_out())
    for column in ("categorical__gender_Male", "categorical__occupation_Retired"):
        model[-1].coef_[:, columns.index(column)] = 1e308
    return register_variant(platform, model)


def tick(platform, cursor: str | None) -> tuple[str | None, dict | None]:
    """One sensor evaluation, and the decision run it asks for, as the daemon would make them."""
    with dg.build_sensor_context(instance=platform.instance, resources=platform.resources, cursor=cursor) as context:
        asked = challenger_sensor(platform)(context)
    if isinstance(asked, dg.SkipReason):
        return cursor, None
    result = platform.defs.resolve_job_def("decide_promotion").execute_in_process(
        instance=platform.instance, run_config=DECIDE)
    return asked.cursor, result.output_for_node("promotion_decision")


def test_a_challenger_that_starts_failing_is_reverted_within_the_stated_time(platform, canary):
    service, _ = canary
    registry = platform.registry
    platform.resources["loop_storage"].labels_path.mkdir(parents=True, exist_ok=True)
    broken = failing_on_retired_men(platform)
    journal(platform, set_share(registry, broken, 25, "test", "first step"))
    journal(platform, move_alias(registry, CHALLENGER, broken, "test", "canary"))
    healthy, failing = {**RECORD, "gender": "Female"}, {**RECORD, "gender": "Male", "occupation": "Retired"}
    with service.client() as client:
        settled(client, broken, 25)
        time.sleep(1.0)  # the rest of the grace after the alias moved
        assert set(answered_by(client, CLIENTS[:400], healthy).values()) == {"1", broken}
        time.sleep(2.5)  # the log files close
        cursor, decision = tick(platform, None)
        assert decision["outcome"] == "wait" and decision["error_ratio"] == 0, decision

        started = time.monotonic()
        while decision is None or decision["outcome"] != "revert":
            assert time.monotonic() - started < REVERT_WITHIN_SECONDS, decision
            answered_by(client, CLIENTS[:100], healthy)
            answered_by(client, CLIENTS[100:120], failing)  # every answer still comes, from the champion
            time.sleep(2)
            cursor, decision = tick(platform, cursor)
        reverted = time.monotonic() - started
        assert "failed to answer" in decision["reason"], decision
        settled(client, None, 0)
        assert set(answered_by(client, CLIENTS[:400], healthy).values()) == {"1"}
    assert time.monotonic() - started < REVERT_WITHIN_SECONDS
    print(f"reverted {reverted:.1f} s after the first failing record; all clients back on v1 within "
          f"{time.monotonic() - started:.1f} s")
    moves = [(m.alias, m.from_version, m.to_version, m.canary_percent) for m in recorded_moves(platform.instance)
             if m.alias == CHALLENGER and m.actor != "reconcile"]  # the fixtures' setup moves are found on reconcile
    mine = [(to_version, percent) for _, from_version, to_version, percent in moves if broken in (from_version, to_version)]
    assert mine == [(broken, "25"), (broken, None), (broken, "0"), (None, None)], mine  # share, canary, revert


def challenger_sensor(platform) -> dg.SensorDefinition:
    return platform.defs.get_repository_def().get_sensor_def("challenger_sensor")
