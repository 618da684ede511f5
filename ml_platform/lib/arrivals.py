"""What arrived in a folder since a sensor's mark, for sensors that only need to notice arrivals.

Two kinds of folder: label files, named by people (filtered by arrival stamp; the listing still walks
the folder's metadata, but nothing older than the mark is opened or remembered), and the inference log,
whose file names start with the time the file was opened, so a listing starts after the mark's name
(S3 `StartAfter`) and never touches older files. A log file is closed within the writer's rotation age
(`InferenceLogWriter.max_seconds`, 5 minutes) and then uploaded, so the margin covers both.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from upath import UPath

from ml_platform.lib.high_water import Mark
from ml_platform.lib.storage import Listed, files_after, files_changed_since

MARGIN_SECONDS = 900.0
LOG_PREFIX, LOG_SUFFIX, CONSUMED = "inference-", ".jsonl", "consumed"
_LOG_TIME = re.compile(r"^inference-(\d{8}T\d{6}\.\d{6})-")


def new_files(folder: UPath, pattern: str, mark: Mark, margin_seconds: float = MARGIN_SECONDS,
              now_ns: int | None = None) -> tuple[list[Listed], Mark, int]:
    """Files that arrived or changed since `mark`, the mark past them, and how many entries were listed."""
    listed_at = time.time_ns() if now_ns is None else now_ns
    listed = files_changed_since(folder, mark.since_ns, pattern)
    return mark.unseen(listed), mark.advanced(listed, listed_at, int(margin_seconds * 1e9)), len(listed)


def _log_stamp(name: str) -> int | None:
    match = _LOG_TIME.match(name)
    if match is None:
        return None
    opened = datetime.strptime(match[1], "%Y%m%dT%H%M%S.%f").replace(tzinfo=timezone.utc)
    return int(opened.timestamp() * 1_000_000) * 1000


def _log_key(stamp_ns: int) -> str:
    """The smallest name a file opened at `stamp_ns` can have: a listing starts just before it."""
    opened = datetime.fromtimestamp(stamp_ns / 1e9, tz=timezone.utc)
    return f"{LOG_PREFIX}{opened:%Y%m%dT%H%M%S.%f}"


def new_log_files(log_dir: UPath, mark: Mark, margin_seconds: float = MARGIN_SECONDS,
                  now_ns: int | None = None) -> tuple[list[Listed], Mark, int]:
    """Closed log files (consumed or not) opened since `mark`, listed from the mark's name on."""
    listed_at = time.time_ns() if now_ns is None else now_ns
    start = _log_key(mark.since_ns) if mark.since_ns else ""
    listed = []
    for folder in (log_dir, log_dir / CONSUMED):
        for path in files_after(folder, start, f"{LOG_PREFIX}*{LOG_SUFFIX}"):
            stamp = _log_stamp(path.name)
            if stamp is not None:
                listed.append(Listed(path, stamp, 0))
    return mark.unseen(listed), mark.advanced(listed, listed_at, int(margin_seconds * 1e9)), len(listed)
