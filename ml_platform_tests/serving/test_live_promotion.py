"""Live promotion with the real service and registry: a challenger in shadow answers beside the
champion, its answers are joined to delayed labels per record, and `promotion_decision` promotes a
better one and reverts a worse one, each alias move journalled in order."""

from __future__ import annotations

import random

import dagster as dg
import pandas as pd

from ml_platform.defs.promotion.alias_history import materialization, recorded_moves
from ml_platform.lib.alias_moves import move_alias
from ml_platform.lib.inference_log import all_closed_files, read_records
from ml_platform.lib.registry import CHALLENGER
from ml_platform_tests.waiting import eventually
from ml_platform_tests.serving.conftest import serving

RECORDS = 300
WEAK = {"ops": {"trained_model": {"config": {"estimators": ["logistic_regression"], "logistic_c": [1e-5]}}}}


def records(seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"age": rng.randint(18, 90), "gender": rng.choice(["Female", "Male", "Non-binary"]),
             "income": float(rng.randint(5_000, 400_000)), "spending_score": rng.randint(1, 100),
             "occupation": rng.choice(["Engineer", "Teacher", "Artist", "Doctor", "Sales", "Student", "Retired"])}
            for _ in range(RECORDS)]


def serve_with_challenger(platform, version: str, seed: int) -> list[dict]:
    """Set the challenger as promotion does, send traffic, and return the champion's logged records."""
    platform.instance.report_runless_asset_event(materialization(
        move_alias(platform.registry, CHALLENGER, version, "test", "live evaluation")))
    log_dir = platform.resources["loop_storage"].inference_log_path
    before = {p.name for p in all_closed_files(log_dir)}
    with serving(platform, ML_PLATFORM_INFERENCE_LOG_DIR=str(log_dir)) as service, service.client() as client:
        eventually(lambda: (client.get("/model").json()["shadow"] or {}).get("model_version") == version, 60,
                   f"the service loading challenger v{version}")
        batch = records(seed)
        for start in range(0, RECORDS, 10):
            assert client.post("/predict", json=batch[start:start + 10]).status_code == 200
    return [r for p in all_closed_files(log_dir) if p.name not in before for r in read_records(p)]


def label(platform, logged: list[dict], truth, name: str) -> None:
    rows = [{"record_id": r["record_id"], "label": truth(r)} for r in logged]
    pd.DataFrame(rows).to_csv(platform.resources["loop_storage"].labels_path / f"{name}.csv", index=False)


def decide(platform) -> dict:
    result = platform.defs.resolve_job_def("decide_promotion").execute_in_process(instance=platform.instance)
    return result.output_for_node("promotion_decision")


def test_a_better_challenger_is_promoted_and_a_worse_one_reverted_on_labelled_live_traffic(platform):
    registry, loop_storage = platform.registry, platform.resources["loop_storage"]
    loop_storage.labels_path.mkdir(parents=True, exist_ok=True)
    assert platform.retrain(run_config=WEAK).output_for_node("promoted_model")["champion_version"] == "1"
    weak = str(max(int(v.version) for v in registry.client.search_model_versions(f"name='{platform.spec.name}'")))
    try:
        logged = serve_with_challenger(platform, weak, seed=1)
        assert len(logged) == RECORDS and all(r["shadow"]["model_version"] == weak for r in logged)
        label(platform, logged, lambda r: r["prediction"], "truth-agrees-with-champion")
        reverted = decide(platform)
        assert reverted["outcome"] == "revert" and "less accurate" in reverted["reason"], reverted
        assert registry.alias_version(CHALLENGER) is None and registry.champion_version() == "1"

        with dg.build_sensor_context(instance=platform.instance, resources=platform.resources) as context:
            assert isinstance(challenger_sensor(platform)(context), dg.SkipReason), "no challenger, nothing to judge"

        logged = serve_with_challenger(platform, "2", seed=2)
        label(platform, logged, lambda r: r["shadow"]["prediction"], "truth-agrees-with-challenger")
        with dg.build_sensor_context(instance=platform.instance, resources=platform.resources) as context:
            requested = challenger_sensor(platform)(context)
        assert len(requested.run_requests) == 1
        with dg.build_sensor_context(instance=platform.instance, resources=platform.resources,
                                     cursor=requested.cursor) as context:
            again = challenger_sensor(platform)(context)  # a skip that may carry the advanced high-water marks
        assert isinstance(again, dg.SkipReason) or (not again.run_requests and again.skip_reason), \
            "nothing new since the last request"
        promoted = decide(platform)
        assert promoted["outcome"] == "promote", promoted
        assert promoted["labelled"] == RECORDS and promoted["challenger_accuracy"] == 1.0
        assert registry.champion_version() == "2" and registry.alias_version(CHALLENGER) is None

        moves = [(m.alias, m.from_version, m.to_version) for m in recorded_moves(platform.instance)
                 if m.actor != "reconcile"]  # the fixture's rollback, made outside the journal, is found on reconcile
        assert moves[-5:] == [(CHALLENGER, None, weak), (CHALLENGER, weak, None), (CHALLENGER, None, "2"),
                              ("champion", "1", "2"), (CHALLENGER, "2", None)]
    finally:
        registry.set_champion("1")
        registry.delete_alias(CHALLENGER)
        for path in loop_storage.labels_path.glob("truth-*.csv"):
            path.unlink()


def challenger_sensor(platform) -> dg.SensorDefinition:
    return platform.defs.get_repository_def().get_sensor_def("challenger_sensor")
