"""The live decision's statistics: promote a challenger that is as good, revert one that is worse or
failing, wait while the labels are too few; and how often each goes wrong on simulated traffic."""

import os
from datetime import datetime, timedelta, timezone

import numpy as np

from ml_platform.lib.inference_log import CONSUMED_DIR, closed_files_since
from ml_platform.lib.live_comparison import decide, paired
from ml_platform.lib.spec import Promotion

POLICY = Promotion(mode="shadow", min_labelled=200, tolerance=0.01, alpha=0.05, max_hours=72, max_error_ratio=0.01)


def simulated(n: int, champion_accuracy: float, challenger_accuracy: float, seed: int):
    """Correlated correctness, as two models of the same data have: both mostly right on the same records."""
    rng = np.random.default_rng(seed)
    easy = rng.random(n)
    return list(easy < champion_accuracy), list(easy + rng.normal(0, 0.05, n) < challenger_accuracy)


def test_a_better_challenger_is_promoted_once_enough_records_are_labelled():
    champion, challenger = simulated(400, 0.80, 0.85, seed=1)
    early = decide(paired(champion[:100], challenger[:100], POLICY.alpha), 100, 0, 1.0, POLICY)
    assert early.outcome == "wait" and "100 of at least 200" in early.reason
    decision = decide(paired(champion, challenger, POLICY.alpha), 400, 0, 2.0, POLICY)
    assert decision.outcome == "promote", decision
    assert decision.figures["labelled"] == 400 and decision.figures["difference"] > 0


def test_a_worse_challenger_is_reverted_early_and_a_failing_one_at_once():
    champion, challenger = simulated(120, 0.85, 0.70, seed=2)
    worse = decide(paired(champion, challenger, POLICY.alpha), 120, 0, 0.5, POLICY)
    assert worse.outcome == "revert" and "less accurate" in worse.reason and worse.figures["p_challenger_worse"] < 0.05
    same = paired(*simulated(50, 0.8, 0.8, seed=3), POLICY.alpha)
    failing = decide(same, 1000, 50, 0.1, POLICY)
    assert failing.outcome == "revert" and "failed to answer 5.0%" in failing.reason


def test_a_challenger_that_never_proves_itself_is_reverted_after_the_maximum_duration():
    result = paired(*simulated(80, 0.8, 0.8, seed=4), POLICY.alpha)
    assert decide(result, 80, 0, 71.9, POLICY).outcome == "wait"
    assert decide(result, 80, 0, 72.0, POLICY).outcome == "revert"


def test_error_rates_of_the_rule_on_simulated_traffic():
    """Over 200 seeds at 400 labels: an equal challenger is rarely reverted, a 5-point-worse one rarely promoted."""
    def outcomes(champion_accuracy, challenger_accuracy):
        return [decide(paired(*simulated(400, champion_accuracy, challenger_accuracy, seed), POLICY.alpha),
                       400, 0, 1.0, POLICY).outcome for seed in range(200)]

    equal, worse = outcomes(0.8, 0.8), outcomes(0.85, 0.80)
    assert equal.count("revert") / 200 <= 0.05
    assert worse.count("promote") / 200 <= 0.05 and worse.count("revert") / 200 >= 0.8


def test_the_decision_reads_only_log_files_written_since_the_challenger_was_set(tmp_path):
    """Bounded work per decision: files last written well before the challenger (consumed or not) are
    skipped, files inside the clock margin are still read."""
    since = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    (tmp_path / CONSUMED_DIR).mkdir()
    written = {"consumed/old.jsonl": since - timedelta(days=3), "old.jsonl": since - timedelta(hours=2),
               "consumed/margin.jsonl": since - timedelta(minutes=30), "new.jsonl": since + timedelta(minutes=5)}
    for name, at in written.items():
        (tmp_path / name).write_text("{}\n")
        os.utime(tmp_path / name, (at.timestamp(), at.timestamp()))
    read = sorted(p.relative_to(tmp_path).as_posix() for p in closed_files_since(tmp_path, since))
    assert read == ["consumed/margin.jsonl", "new.jsonl"]
