"""Served traffic lands as one batch per time window (an hour by default), however many replicas write.

Each consumed log file is first staged in `served-staging/` under the landing folder, named by the
window it was consumed in (`<window>--inference-....csv`). Once a window is over (plus a margin for a
consumer still writing into it) and every staged file's log file has been moved to `consumed/`, the
window is sealed: its staged files are concatenated into one landed file, `served-<window>-<digest>.csv`,
and deleted. The new-data sensor sees only sealed files, so served traffic adds at most 24 partitions a
day at the default window, where it used to add one per log file (hundreds a day with three replicas).

Exactly once, through crashes and overlapping consumers (the daemon evaluates one tick at a time; a
restart or a hand-launched run can overlap it):
- a log file is staged under its own name, and a consumer first looks for it among the staged files, so
  a crash between staging and the move to `consumed/` does not stage it twice (two consumers overlapping
  a window's end may each stage it once: the earliest window's copy is kept, the other deleted);
- a window is not sealed while a staged file's log file still waits in the log folder (that consumer may
  have crashed; the next one finds the staged copy and moves the log file);
- a sealer writes the names it takes (`sealed/<window>-<digest>.names`) before the batch, and the batch
  before deleting them; another sealer reads the window's name lists first and takes only names in
  none, finishing a batch a crashed sealer left unwritten. A file staged into a window already sealed
  (a consumer stalled past the margin) is sealed later as a batch of its own.
What is assumed: no consumer stalls longer than the margin (120 s, twice Dagster's 60 s sensor timeout)
between reading a log file and staging it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timezone

from upath import UPath

from ml_platform.lib.retention_files import remove
from ml_platform.lib.storage import ensure_folder, files_in, write_new

STAGING_DIR = "served-staging"
SEALED_PREFIX = "served-"
SEPARATOR = "--"
SEAL_MARGIN_SECONDS = 120.0
SEALED_DIR, KEEP_NAME_LISTS_SECONDS = "sealed", 86400.0


@dataclass(frozen=True)
class Sealed:
    window: str
    landed: UPath
    files: int
    rows: int


def window_of(at: float, minutes: int) -> str:
    """The window `at` (epoch seconds) falls in, named by its UTC start: `20261203T0600`."""
    start = int(at // (minutes * 60)) * minutes * 60
    return datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y%m%dT%H%M")


def _window_start(window: str) -> float:
    return datetime.strptime(window, "%Y%m%dT%H%M").replace(tzinfo=timezone.utc).timestamp()


def staging_dir(landing_dir: UPath) -> UPath:
    return landing_dir / STAGING_DIR


def staged(landing_dir: UPath) -> dict[str, UPath]:
    """Staged files by the batch name they stand for (one listing of the staging folder)."""
    return _listed(landing_dir)[0]


def _listed(landing_dir: UPath) -> tuple[dict[str, UPath], list[UPath]]:
    """The earliest window's copy of each batch name, and later copies: two overlapping consumers on either
    side of a window's end may both stage a log file before either moves it."""
    first: dict[str, UPath] = {}
    copies = []
    for path in files_in(staging_dir(landing_dir), f"[0-9]*{SEPARATOR}*"):  # by name: windows in time order
        batch = path.name.split(SEPARATOR, 1)[1]
        if batch in first:
            copies.append(path)
        else:
            first[batch] = path
    return first, copies


def stage(landing_dir: UPath, batch_name: str, data: bytes, now: float, minutes: int) -> UPath:
    """Stage one log file's labelled records in the window `now` falls in."""
    path = ensure_folder(staging_dir(landing_dir)) / f"{window_of(now, minutes)}{SEPARATOR}{batch_name}"
    write_new(path, data)
    return path


def seal(landing_dir: UPath, still_waiting: set[str], now: float, minutes: int,
         margin_seconds: float = SEAL_MARGIN_SECONDS) -> list[Sealed]:
    """Seal every window that is over; `still_waiting` holds the batch names whose log file is not yet consumed."""
    first, copies = _listed(landing_dir)
    for copy in copies:
        remove(copy)
    windows: dict[str, dict[str, UPath]] = {}  # window -> batch name -> staged file, in time order
    for batch, path in first.items():
        windows.setdefault(path.name.split(SEPARATOR, 1)[0], {})[batch] = path
    lists = staging_dir(landing_dir) / SEALED_DIR
    sealed = []
    for window, by_name in sorted(windows.items()):
        if _window_start(window) + minutes * 60 + margin_seconds > now or still_waiting.intersection(by_name):
            continue
        taken = set()
        for names_file in files_in(lists, f"{window}-*.names"):  # this window's earlier sealers, if any
            names = names_file.read_text().split()
            taken.update(names)
            _write_batch(landing_dir, names_file, {name: by_name[name] for name in names if name in by_name})
        fresh = sorted(set(by_name) - taken)
        if fresh:
            digest = hashlib.sha256("\n".join(fresh).encode()).hexdigest()[:8]
            names_file = ensure_folder(lists) / f"{window}-{digest}.names"
            write_new(names_file, "\n".join(fresh).encode())
            sealed.append(_write_batch(landing_dir, names_file, {name: by_name[name] for name in fresh}))
    _forget_old_lists(lists, now)
    return [batch for batch in sealed if batch is not None]


def _write_batch(landing_dir: UPath, names_file: UPath, staged_files: dict[str, UPath]) -> Sealed | None:
    """The batch a name list stands for (if it is not written yet), then its staged files deleted.
    None when another sealer finished it (its staged files are gone)."""
    if not staged_files:
        return None
    window, digest = names_file.stem.rsplit("-", 1)
    landed = landing_dir / f"{SEALED_PREFIX}{window}-{digest}.csv"
    try:
        data, rows = _concatenated([staged_files[name] for name in sorted(staged_files)])
    except FileNotFoundError:  # another sealer wrote it and is deleting its files
        return None
    write_new(landed, data)
    for path in staged_files.values():
        remove(path)
    return Sealed(window, landed, len(staged_files), rows)


def _forget_old_lists(lists: UPath, now: float) -> None:
    """Name lists guard against overlapping sealers only: a day's are kept, so the listing stays small."""
    for names_file in files_in(lists, "*.names"):
        if _window_start(names_file.stem.rsplit("-", 1)[0]) < now - KEEP_NAME_LISTS_SECONDS:
            remove(names_file)


def _concatenated(paths: list[UPath]) -> tuple[bytes, int]:
    """One CSV from staged CSVs with one header (a spec change mid-window gets the union of columns)."""
    parts = [path.read_bytes() for path in paths]
    headers = {part.split(b"\n", 1)[0] for part in parts}
    if len(headers) == 1:
        header = headers.pop()
        bodies = [part.split(b"\n", 1)[1] if b"\n" in part else b"" for part in parts]
        body = b"".join(bodies)
        return header + b"\n" + body, body.count(b"\n")
    import pandas as pd  # only for the rare window whose files differ in columns

    frame = pd.concat([pd.read_csv(io.BytesIO(part), dtype=str, keep_default_na=False) for part in parts])
    return frame.to_csv(index=False).encode(), len(frame)
