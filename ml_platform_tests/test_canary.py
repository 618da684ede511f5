"""Canary routing and its bookkeeping: a client keeps its model, raising the share only adds clients,
the measured share is the setting, and both models' answers are read back right whichever answered."""

from datetime import datetime, timedelta, timezone

from ml_platform.lib.canary import answers, champion_view, complete, next_step, routed_to_challenger
from ml_platform.lib.live_comparison import Decision, decide, from_log, paired, with_canary
from ml_platform.lib.spec import Canary, Promotion

CLIENTS = [f"client-{n}" for n in range(20_000)]
POLICY = Promotion(mode="canary", canary=Canary(steps=[5, 25, 50], step_minutes=10))


def test_the_share_is_the_setting_sticky_per_client_and_raising_it_only_adds_clients():
    chosen = {percent: {c for c in CLIENTS if routed_to_challenger(c, "7", percent)} for percent in (5, 25, 50, 100)}
    for percent, clients in chosen.items():
        assert abs(len(clients) / len(CLIENTS) * 100 - percent) < 1, (percent, len(clients))
    assert chosen[5] <= chosen[25] <= chosen[50] <= chosen[100] == set(CLIENTS)
    assert chosen[25] == {c for c in CLIENTS if routed_to_challenger(c, "7", 25)}, "the same clients every time"
    assert not any(routed_to_challenger(c, "7", 0) for c in CLIENTS)
    other = {c for c in CLIENTS if routed_to_challenger(c, "8", 25)}
    assert len(other & chosen[25]) < 0.4 * len(other), "each challenger draws its own clients"


def test_steps_move_up_once_each_has_held_and_promotion_waits_for_the_last():
    assert next_step(POLICY.canary, 5, 9.9) is None and next_step(POLICY.canary, 5, 10) == 25
    assert next_step(POLICY.canary, 50, 60) is None and next_step(POLICY.canary, 0, 10) == 5
    assert not complete(POLICY.canary, 50, 9) and complete(POLICY.canary, 50, 10)
    promote = Decision("promote", "non-inferior", {})
    held, step = with_canary(promote, POLICY, 25, 11)
    assert held.outcome == "wait" and "serves 25% of clients" in held.reason and step == 50
    assert with_canary(promote, POLICY, 50, 10)[0].outcome == "promote"
    reverted, step = with_canary(Decision("revert", "failing", {}), POLICY, 25, 60)
    assert reverted.outcome == "revert" and step is None and reverted.figures["canary_percent"] == 25


def record(n: int, answered_by: str | None, own: str, prediction: str, other: str | None, at: datetime) -> dict:
    logged = {"record_id": f"r{n}", "timestamp": at.isoformat(), "model_version": own, "prediction": prediction,
              "probabilities": {prediction: 1.0}}
    if answered_by:
        logged["answered_by"] = answered_by
    if other:
        logged["shadow"] = {"model_version": "1" if own == "2" else "2", "prediction": other,
                            "probabilities": {other: 1.0}}
    return logged


def test_the_comparison_reads_both_answers_whichever_model_answered_and_counts_the_failures():
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = since + timedelta(minutes=5)
    logged = [record(0, None, "1", "a", "b", at),           # champion answered, challenger shadowed
              record(1, "challenger", "2", "b", "a", at),   # canary: challenger answered, champion shadowed
              record(2, None, "1", "a", None, at) | {"challenger_failed": True},  # canary the challenger failed
              record(3, "challenger", "2", "b", None, at),  # champion's shadow answer lost
              record(4, None, "3", "a", "b", at)]           # another version: not part of this comparison
    labels = {"r0": "b", "r1": "a", "r2": "a", "r3": "b", "r4": "a"}
    live = from_log(logged, labels, "1", "2", since)
    assert (live.records, live.unanswered, live.canary) == (4, 1, 2)
    assert live.champion_right == [False, True] and live.challenger_right == [True, False]
    assert answers(logged[1], "1", "2") == ("a", "b") and answers(logged[4], "1", "2") is None


def test_live_performance_judges_the_champion_on_canary_records_too():
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    canary = record(1, "challenger", "2", "b", "a", at)
    view = champion_view(canary)
    assert (view["model_version"], view["prediction"], view["shadow"]["prediction"]) == ("1", "a", "b")
    assert champion_view(record(3, "challenger", "2", "b", None, at)) is None
    plain = record(0, None, "1", "a", "b", at)
    assert champion_view(plain) is plain


def test_live_performance_leaves_canary_answers_out_of_the_champion_window(tmp_path):
    import json

    import pandas as pd

    from ml_platform.lib.inference_log import CLOSED_SUFFIX
    from ml_platform.lib.labels import Labels
    from ml_platform.lib.live_performance import labelled_predictions, window_metrics

    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    logged = [record(0, None, "1", "a", "b", at), record(1, "challenger", "2", "b", "a", at + timedelta(seconds=1))]
    for entry in logged:
        entry.update(request_id=entry["record_id"], inputs={"age": 30})
    (tmp_path / f"inference-20260101T000000.000000-1-1-ab-host{CLOSED_SUFFIX}").write_text(
        "".join(json.dumps(entry) + "\n" for entry in logged))
    labels = Labels(pd.DataFrame({"record_id": ["r0", "r1"], "label": ["a", "a"]}))
    joined, unknown = labelled_predictions(tmp_path, labels, ["age"])
    assert unknown == 0 and list(joined["model_version"]) == ["1", "1"]
    assert window_metrics(joined, 100)["accuracy"] == 1.0


def test_a_canary_slower_than_the_slo_is_reverted_once_enough_of_its_answers_are_timed():
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    at = since + timedelta(minutes=5)
    logged = [record(i, "challenger", "2", "a", "a", at) | {"latency_ms": 250.0 if i % 50 == 0 else 12.5}
              for i in range(200)]
    logged += [record(200 + i, None, "1", "a", "a", at) | {"latency_ms": 400.0} for i in range(50)]
    live = from_log(logged, {}, "1", "2", since)
    assert live.canary == 200 and sorted(set(live.canary_latencies_ms)) == [12.5, 250.0], "only the canary's"
    even = paired([True] * 10, [True] * 10, POLICY.alpha)
    slow = decide(even, live.records, 0, 0.5, POLICY, live.canary_latencies_ms)
    assert slow.outcome == "revert" and "p99" in slow.reason and slow.figures["canary_p99_ms"] == 250.0
    fast = [12.5] * 200
    assert decide(even, 200, 0, 0.5, POLICY, fast).outcome == "wait"
    too_few = [250.0] * 99
    assert decide(even, 200, 0, 0.5, POLICY, too_few).outcome == "wait", "a p99 of 99 answers is not one"
