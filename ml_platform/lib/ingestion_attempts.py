"""Whether a landed file's content should be (re)ingested now: a failed run is retried, a few times, after a pause.

A failure can be environmental (a full disk, a lost pod, a folder briefly unwritable), so one failed
run must not mark a file as done forever; but a file that fails every time must not loop either.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PastRuns:
    """What the instance knows of one content's ingestion runs."""

    succeeded: bool = False
    in_progress: bool = False
    failed: int = 0
    last_failed_at: float | None = None


@dataclass(frozen=True)
class Decision:
    attempt: int | None  # the attempt to request now; None: nothing to request
    reason: str
    settled: bool  # no later tick needs to look at this content again
    gave_up: bool = False


def decide(past: PastRuns, max_attempts: int, retry_after_seconds: float, now: float) -> Decision:
    """Done when a run succeeded or one is queued/running; otherwise the next attempt, once it is due."""
    if past.succeeded:
        return Decision(None, "ingested", settled=True)
    if past.in_progress:
        return Decision(None, "a run is queued or in progress", settled=False)
    if past.failed == 0:
        return Decision(1, "new content", settled=False)
    if past.failed >= max_attempts:
        return Decision(None, f"gave up after {past.failed} failed attempts (max_attempts={max_attempts})",
                        settled=True, gave_up=True)
    due_in = (past.last_failed_at or 0.0) + retry_after_seconds - now
    if due_in > 0:
        return Decision(None, f"attempt {past.failed + 1} of {max_attempts} due in {due_in:.0f} s", settled=False)
    return Decision(past.failed + 1, f"attempt {past.failed} failed", settled=False)


def attempt_run_key(sha256: str, attempt: int) -> str:
    """The first attempt keeps the bare content hash, so run keys from before retries existed still match."""
    return sha256 if attempt == 1 else f"{sha256}-attempt-{attempt}"
