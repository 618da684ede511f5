"""Listings after a high-water mark: a tick lists and opens only what arrived since, on both storages.

Counts come from what the listing functions return and, on a folder, from a Python audit hook that sees
every file the process opens; the S3 cells run against a real SeaweedFS.
"""

import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from ml_platform.lib.arrivals import new_files, new_log_files
from ml_platform.lib.high_water import Mark
from ml_platform.lib.landing_scan import LandingState, scan
from ml_platform.lib.storage import ensure_folder, files_after, is_remote, storage_path, write_atomic

pytestmark = pytest.mark.usefixtures("storage_kind")
MARGIN = 2.0  # an object's Last-Modified has whole seconds; the listing waits this long after a write
OPENED: list[str] | None = None


def _record_opens(event: str, args: tuple) -> None:
    if OPENED is not None and event == "open" and isinstance(args[0], str):
        OPENED.append(args[0])


sys.addaudithook(_record_opens)


def land(folder, first: int, count: int) -> None:
    for i in range(first, first + count):
        write_atomic(folder / f"drop-{i:05d}.csv", f"a,b\n{i},x\n".encode())


def counted_scan(folder, state):
    """The scan, and the landed files this process opened during it (a folder only: S3 reads are requests)."""
    global OPENED
    OPENED = []
    try:
        found = scan(folder, "*", state, MARGIN)
    finally:
        opened, OPENED = OPENED, None
    return found, [path for path in opened if path.startswith(str(folder))]


def test_a_scan_hashes_only_files_that_arrived_since_its_mark_and_its_cursor_keeps_its_size(storage_root):
    folder = ensure_folder(storage_path(storage_root) / "landing")
    land(folder, 0, 10)
    time.sleep(MARGIN + 1)
    first, opened = counted_scan(folder, LandingState())
    assert (len(first.new), first.listed) == (10, 10)
    after_10 = first.state.dump()

    land(folder, 10, 990)
    time.sleep(MARGIN + 1)
    big, _ = counted_scan(folder, LandingState.parse(after_10))
    assert len(big.new) == 990 and len(big.state.dump()) == len(after_10)

    land(folder, 1000, 10)
    time.sleep(MARGIN + 1)
    last, opened = counted_scan(folder, LandingState.parse(big.state.dump()))
    assert sorted(landed.key for landed in last.new) == [f"drop-{i:05d}.csv" for i in range(1000, 1010)]
    assert last.listed == 10 and len(last.state.dump()) == len(after_10)
    if not is_remote(folder):
        assert sorted(path.rsplit("/", 1)[1] for path in opened) == [f"drop-{i:05d}.csv" for i in range(1000, 1010)]

    quiet, opened = counted_scan(folder, LandingState.parse(last.state.dump()))
    assert (quiet.new, quiet.listed, opened) == ([], 0, [])


def test_files_within_the_margin_are_remembered_by_name_and_a_rewrite_counts_as_new(storage_root):
    folder = ensure_folder(storage_path(storage_root) / "labels")
    land(folder, 0, 3)
    new, mark, _ = new_files(folder, "*.csv", Mark(), margin_seconds=3600)
    assert len(new) == 3 and len(mark.recent) == 3
    assert new_files(folder, "*.csv", mark, margin_seconds=3600)[0] == []
    time.sleep(1.1)  # an object's stamp changes with the next second
    write_atomic(folder / "drop-00001.csv", b"a,b\n1,y\n")
    assert [item.path.name for item in new_files(folder, "*.csv", mark, margin_seconds=3600)[0]] == ["drop-00001.csv"]


def log_name(opened: datetime, i: int) -> str:
    return f"inference-{opened:%Y%m%dT%H%M%S.%f}-{100 + i}-7-abcd{i:04d}-host.jsonl"


def test_the_log_is_listed_from_the_marks_name_on_consumed_or_not(storage_root):
    log_dir = ensure_folder(storage_path(storage_root) / "inference_log")
    start = datetime.now(timezone.utc) - timedelta(days=2)
    for i in range(1000):  # two days of history, one file every two minutes, half of it consumed
        folder = log_dir / "consumed" if i % 2 else log_dir
        write_atomic(folder / log_name(start + timedelta(minutes=2 * i), i), b"{}\n")
    new, mark, listed = new_log_files(log_dir, Mark(), margin_seconds=900)
    assert (len(new), listed) == (1000, 1000)
    assert len(mark.recent) == 0  # everything is older than the margin

    now = datetime.now(timezone.utc)
    write_atomic(log_dir / log_name(now, 1000), b"{}\n")
    new, mark, listed = new_log_files(log_dir, mark, margin_seconds=900)
    assert [item.path.name for item in new] == [log_name(now, 1000)] and listed == 1
    assert new_log_files(log_dir, mark, margin_seconds=900)[0] == []
    assert files_after(log_dir, "inference-9") == [] and len(files_after(log_dir / "consumed", "")) == 500
