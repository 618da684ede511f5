"""Retention: what the platform may delete, declared once, and a sweep that deletes only that.

Everything under the storage root used to grow forever. The policy says, per kind of file, how many
days it is kept, and how many model versions and Bentos; `None` keeps a kind forever. A sweep never
decides alone: every old file is first offered to a `protect` callback that names why it must stay
(the training window, an open label wait, the current reference sample...), and what was refused is
counted by reason, so the report says what stayed and why without listing every file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pydantic import BaseModel, ConfigDict, Field

from ml_platform.lib.retention_files import Listed, remove

DAY = 86_400.0
Days = float | None  # None: keep this kind forever


class RetentionPolicy(BaseModel):
    """Days each kind of file is kept after its last write, and how many model versions and Bentos stay
    beyond those something still needs (champion, challenger, rollback targets, the reference's model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumed_log_days: Days = Field(default=30, gt=0)  # live_performance and a challenger read these
    unreadable_log_days: Days = Field(default=90, gt=0)  # set aside for a person: longer
    label_days: Days = Field(default=90, gt=0)
    landed_days: Days = Field(default=90, gt=0)
    drift_report_days: Days = Field(default=30, gt=0)  # the batch's MLflow run keeps its own copy
    evaluation_plot_days: Days = Field(default=180, gt=0)  # also an artifact of the candidate's MLflow run
    reference_sample_days: Days = Field(default=90, gt=0)
    prediction_days: Days = Field(default=90, gt=0)  # the prediction store's hours; a challenger reads its own
    step_output_days: Days = Field(default=30, gt=0)  # runs' step outputs (`assets/<run id>/`): re-execution reads them
    model_versions: int = Field(default=5, ge=1)  # the newest N, so a retrain in flight keeps its candidate
    rollback_depth: int = Field(default=2, ge=1)  # earlier champions `make rollback TO=` can return to
    bentos: int = Field(default=3, ge=1)  # the newest N Bentos of the dataset, beside the protected ones


@dataclass
class Swept:
    """What one kind's sweep did; its figures do not grow with history (counts, bytes, one date)."""

    kind: str
    removed: int = 0
    removed_bytes: int = 0
    kept: int = 0
    oldest_kept: float | None = None
    refused: Counter = field(default_factory=Counter)  # reason -> files that were old enough but needed

    def keep(self, modified: float) -> None:
        self.kept += 1
        self.oldest_kept = modified if self.oldest_kept is None else min(self.oldest_kept, modified)

    def metadata(self) -> dict:
        oldest = "" if self.oldest_kept is None else \
            datetime.fromtimestamp(self.oldest_kept, timezone.utc).isoformat(timespec="seconds")
        return {"removed": self.removed, "removed_bytes": self.removed_bytes, "kept": self.kept,
                "oldest_kept": oldest, "refused": dict(sorted(self.refused.items()))}


def cutoff(days: Days, now: float) -> float | None:
    """Files last written before this may go; None when the kind is kept forever."""
    return None if days is None else now - days * DAY


def sweep(kind: str, files: Iterable[Listed], before: float | None, protect: Callable[[Listed], str | None],
          dry_run: bool = False) -> Swept:
    """Delete each file last written before `before` unless `protect` names a reason to keep it."""
    swept = Swept(kind)
    for listed in files:
        if before is None or listed.modified >= before:
            swept.keep(listed.modified)
            continue
        reason = protect(listed)
        if reason:
            swept.refused[reason] += 1
            swept.keep(listed.modified)
            continue
        if dry_run or remove(listed.path):
            swept.removed += 1
            swept.removed_bytes += listed.size
    return swept


def nothing_protected(listed: Listed) -> str | None:
    return None
