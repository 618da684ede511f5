"""Champion against challenger on the same live records, judged on their delayed labels.

In shadow mode every logged record carries both models' answers, so the comparison is paired: per
labelled record, was each model right? Only the discordant records (one right, the other wrong) carry
information about which is better; McNemar's exact test asks whether they split more unevenly than
chance, and a one-sided bound on the accuracy difference asks whether the challenger is at least as
good as the champion, give or take the tolerance. The decision:

- revert at once if the challenger fails to answer more than `max_error_ratio` of records, or is
  worse than the champion by more than the tolerance with McNemar p < alpha (after a few labels);
- promote once `min_labelled` records are labelled and the lower bound of the accuracy difference
  clears minus the tolerance (the challenger is non-inferior, with confidence 1 - alpha);
- revert if `max_hours` pass with neither; otherwise wait for more labels.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from dataclasses import asdict, dataclass

from scipy.stats import binomtest, norm

from ml_platform.lib.spec import Promotion

EARLIEST_REVERT_LABELS = 30


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
    n = len(champion_right)
    only_champion = sum(a and not b for a, b in zip(champion_right, challenger_right))
    only_challenger = sum(b and not a for a, b in zip(champion_right, challenger_right))
    discordant = only_champion + only_challenger
    p_worse = binomtest(only_champion, discordant, 0.5, alternative="greater").pvalue if discordant else 1.0
    difference = (only_challenger - only_champion) / n if n else 0.0
    spread = math.sqrt(max(discordant - n * difference ** 2, 0.0)) / n if n else math.inf
    z = float(norm.ppf(1 - alpha))
    return PairedResult(n, sum(champion_right) / n if n else 0.0, sum(challenger_right) / n if n else 0.0,
                        only_champion, only_challenger, float(p_worse), difference - z * spread,
                        difference + z * spread)


def decide(result: PairedResult, records: int, unanswered: int, hours: float, policy: Promotion) -> Decision:
    """What to do with the challenger now, and the figures the decision rests on."""
    error_ratio = unanswered / records if records else 0.0
    figures = {**asdict(result), "difference": result.difference, "records": records, "unanswered": unanswered,
               "error_ratio": error_ratio, "hours": hours, **{f"policy_{k}": v for k, v in policy.model_dump().items()}}
    if records >= EARLIEST_REVERT_LABELS and error_ratio > policy.max_error_ratio:
        return Decision("revert", f"the challenger failed to answer {error_ratio:.1%} of {records} records "
                                  f"(limit {policy.max_error_ratio:.1%})", figures)
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


@dataclass(frozen=True)
class LiveRecords:
    records: int  # answered by the champion since the challenger was set, after the grace
    unanswered: int  # of those, how many lack the challenger's answer
    champion_right: list[bool]
    challenger_right: list[bool]


def from_log(records: list[dict], labels: dict[str, str], champion: str, challenger: str, since: datetime,
             grace_seconds: float = 60) -> LiveRecords:
    """The champion's logged records since the challenger was set, joined to their labels by record id.

    Records of the first `grace_seconds` are left out of the error ratio: replicas pick the new alias up
    on their next poll, so a record answered before that is not a failure of the challenger."""
    counted = unanswered = 0
    champion_right, challenger_right = [], []
    grace_end = since + timedelta(seconds=grace_seconds)
    for record in records:
        answered_at = datetime.fromisoformat(record["timestamp"])
        if str(record.get("model_version")) != champion or answered_at < since:
            continue
        shadow = record.get("shadow") or {}
        answered = str(shadow.get("model_version")) == challenger
        if answered_at >= grace_end:
            counted += 1
            unanswered += not answered
        label = labels.get(record["record_id"])
        if answered and label is not None:
            champion_right.append(str(record["prediction"]) == label)
            challenger_right.append(str(shadow["prediction"]) == label)
    return LiveRecords(counted, unanswered, champion_right, challenger_right)
