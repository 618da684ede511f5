"""Champion against challenger on the same live records, judged on their delayed labels.

Every logged record carries both models' answers (in shadow mode the champion answers and the
challenger's answer is logged beside it; in canary mode a share of records the other way round), so the
comparison is paired: per labelled record, was each model right? Only the discordant records (one right, the other wrong) carry
information about which is better; McNemar's exact test asks whether they split more unevenly than
chance, and a one-sided bound on the accuracy difference asks whether the challenger is at least as
good as the champion, give or take the tolerance. The decision:

- revert at once if the challenger fails to answer more than `max_error_ratio` of records, or (in
  canary mode, over at least 100 records it answered) their p99 time to an answer is over the SLO
  `max_p99_ms`, or it is worse than the champion by more than the tolerance with McNemar p < alpha
  (after a few labels);
- promote once `min_labelled` records are labelled and the lower bound of the accuracy difference
  clears minus the tolerance (the challenger is non-inferior, with confidence 1 - alpha);
- revert if `max_hours` pass with neither; otherwise wait for more labels.

In canary mode (`with_canary`) a promotion also waits until the share's last step has held
`step_minutes`, and while waiting the share moves one step up each time the current step has held
that long: the canary limits how many clients a failing challenger reaches, the labels judge it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from dataclasses import asdict, dataclass

from scipy.stats import binomtest, norm

from ml_platform.lib.canary import ANSWERED_BY, answers, complete, next_step
from ml_platform.lib.spec import Promotion

EARLIEST_REVERT_LABELS = 30
LATENCY_RECORDS = 100  # fewer canary answers than this make a p99 that is only the slowest one


def p99(latencies_ms: list[float]) -> float | None:
    """Nearest-rank 99th percentile, None without latencies."""
    if not latencies_ms:
        return None
    ordered = sorted(latencies_ms)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


@dataclass(frozen=True)
class PairedResult:
    labelled: int
    champion_accuracy: float
    challenger_accuracy: float
    champion_only_right: int
    challenger_only_right: int
    p_challenger_worse: float
    difference_lower_bound: float
    difference_upper_bound: float

    @property
    def difference(self) -> float:
        return self.challenger_accuracy - self.champion_accuracy


@dataclass(frozen=True)
class Decision:
    outcome: str  # "promote", "revert" or "wait"
    reason: str
    figures: dict


def paired(champion_right: list[bool], challenger_right: list[bool], alpha: float) -> PairedResult:
    only_champion = sum(a and not b for a, b in zip(champion_right, challenger_right))
    only_challenger = sum(b and not a for a, b in zip(champion_right, challenger_right))
    both = sum(a and b for a, b in zip(champion_right, challenger_right))
    return paired_counts(both, only_champion, only_challenger, len(champion_right) - both - only_champion -
                         only_challenger, alpha)


def paired_counts(both: int, only_champion: int, only_challenger: int, neither: int, alpha: float) -> PairedResult:
    """The same result from the four counts of paired outcomes, which a running tally can keep."""
    n = both + only_champion + only_challenger + neither
    discordant = only_champion + only_challenger
    p_worse = binomtest(only_champion, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    difference = (only_challenger - only_champion) / n if n else 0.0
    spread = math.sqrt(max(discordant - n * difference ** 2, 0.0)) / n if n else math.inf
    z = float(norm.ppf(1 - alpha))
    return PairedResult(n, (both + only_champion) / n if n else 0.0, (both + only_challenger) / n if n else 0.0,
                        only_champion, only_challenger, float(p_worse), difference - z * spread,
                        difference + z * spread)


def decide(result: PairedResult, records: int, unanswered: int, hours: float, policy: Promotion,
           canary_latencies_ms: list[float] = (), timed: tuple[int, float | None] | None = None) -> Decision:
    """What to do with the challenger now, and the figures the decision rests on. `canary_latencies_ms`:
    the time to an answer of each record the challenger answered to a client (canary mode); or `timed`,
    their count and p99 when a running histogram keeps them (`decision_counts.py`)."""
    error_ratio = unanswered / records if records else 0.0
    timed_count, canary_p99 = timed if timed is not None else (len(canary_latencies_ms), p99(list(canary_latencies_ms)))
    figures = {**asdict(result), "difference": result.difference, "records": records, "unanswered": unanswered,
               "error_ratio": error_ratio, "hours": hours, "canary_answers_timed": timed_count,
               "canary_p99_ms": canary_p99 if canary_p99 is not None else -1.0,
               **{f"policy_{k}": v for k, v in policy.model_dump().items()}}
    if records >= EARLIEST_REVERT_LABELS and error_ratio > policy.max_error_ratio:
        return Decision("revert", f"the challenger failed to answer {error_ratio:.1%} of {records} records "
                                  f"(limit {policy.max_error_ratio:.1%})", figures)
    if timed_count >= LATENCY_RECORDS and canary_p99 > policy.max_p99_ms:
        return Decision("revert", f"the challenger's p99 time to an answer is {canary_p99:.0f} ms over "
                                  f"{timed_count} canary records (SLO {policy.max_p99_ms:g} ms)", figures)
    worse = result.difference < -policy.tolerance and result.p_challenger_worse < policy.alpha
    if result.labelled >= EARLIEST_REVERT_LABELS and worse:
        return Decision("revert", f"the challenger is {-result.difference:.1%} less accurate than the champion on "
                                  f"{result.labelled} labelled records (McNemar p = {result.p_challenger_worse:.4f})",
                        figures)
    if result.labelled >= policy.min_labelled and result.difference_lower_bound > -policy.tolerance:
        return Decision("promote", f"on {result.labelled} labelled records the challenger's accuracy "
                                   f"{result.challenger_accuracy:.1%} vs the champion's {result.champion_accuracy:.1%}: "
                                   f"not worse by more than {policy.tolerance:.1%} at {1 - policy.alpha:.0%} confidence",
                        figures)
    if hours >= policy.max_hours:
        return Decision("revert", f"the challenger did not prove itself within {policy.max_hours:g} h "
                                  f"({result.labelled} labelled records)", figures)
    return Decision("wait", f"{result.labelled} of at least {policy.min_labelled} labelled records; "
                            f"difference {result.difference:+.1%}", figures)


def with_canary(decision: Decision, policy: Promotion, share: float, minutes_held: float) -> tuple[Decision, float | None]:
    """In canary mode a promotion waits until the last step has held `step_minutes`, and while waiting
    the share moves one step up when the current one has held that long. Returns the decision and the
    share to move to now (None to leave it)."""
    figures = {**decision.figures, "canary_percent": share, "canary_minutes_held": round(minutes_held, 2)}
    if decision.outcome == "promote" and not complete(policy.canary, share, minutes_held):
        last = policy.canary.steps[-1]
        decision = Decision("wait", f"{decision.reason}; the canary serves {share:g}% of clients and promotes once "
                                    f"{last:g}% has held {policy.canary.step_minutes:g} min", figures)
    step = next_step(policy.canary, share, minutes_held) if decision.outcome == "wait" else None
    return Decision(decision.outcome, decision.reason, figures), step


@dataclass(frozen=True)
class LiveRecords:
    records: int  # answered by either model since the challenger was set, after the grace
    unanswered: int  # of those, how many lack the challenger's answer (it failed, or was not loaded yet)
    champion_right: list[bool]
    challenger_right: list[bool]
    canary: int = 0  # of `records`, how many the challenger answered to the client (canary mode)
    canary_latencies_ms: tuple[float, ...] = ()  # their time to an answer, where the log has it


def from_log(records: list[dict], labels: dict[str, str], champion: str, challenger: str, since: datetime,
             grace_seconds: float = 60) -> LiveRecords:
    """The logged records since the challenger was set, both models' answers joined to the labels by
    record id, whichever model answered the client (`ml_platform/lib/canary.py`).

    Records of the first `grace_seconds` are left out of the error ratio: replicas pick the new alias up
    on their next poll, so a record answered before that is not a failure of the challenger."""
    counted = unanswered = canary = 0
    champion_right, challenger_right, latencies = [], [], []
    grace_end = since + timedelta(seconds=grace_seconds)
    for record in records:
        answered_at = datetime.fromisoformat(record["timestamp"])
        pair = answers(record, champion, challenger) if answered_at >= since else None
        if pair is None:
            continue
        champion_answer, challenger_answer = pair
        if answered_at >= grace_end:
            counted += 1
            unanswered += challenger_answer is None
            if record.get(ANSWERED_BY) == "challenger":
                canary += 1
                if isinstance(record.get("latency_ms"), (int, float)):
                    latencies.append(float(record["latency_ms"]))
        label = labels.get(record["record_id"])
        if label is not None and champion_answer is not None and challenger_answer is not None:
            champion_right.append(str(champion_answer) == label)
            challenger_right.append(str(challenger_answer) == label)
    return LiveRecords(counted, unanswered, champion_right, challenger_right, canary, tuple(latencies))
