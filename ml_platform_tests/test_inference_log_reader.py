"""The inference log's reader side on a folder and on an object store: the same listing, the same records.

Files are written as each layout makes them (whole, closed), with a line cut short by a crash at the end
of one, some already consumed; the reader must list, date and read them alike on both.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ml_platform.lib.inference_log import (CONSUMED_DIR, all_closed_files, closed_files, closed_files_since,
                                           read_records)
from ml_platform.lib.storage import move, storage_path, write_atomic

pytestmark = pytest.mark.usefixtures("storage_kind")
STEMS = ["inference-20260101T000000.000000-1-1-aa-pod-a", "inference-20260101T000001.000000-2-1-bb-pod-b"]


@pytest.fixture
def log_dir(storage_root):
    log_dir = storage_path(storage_root) / "inference_log"
    for n, stem in enumerate(STEMS):
        write_atomic(log_dir / f"{stem}.jsonl", f'{{"record_id": "r{n}"}}\n{{"record_id": "cut'.encode())
    write_atomic(log_dir / "inference-x.jsonl.part", b'{"record_id": "open"}\n')  # never read
    assert move(log_dir / f"{STEMS[0]}.jsonl", log_dir / CONSUMED_DIR / f"{STEMS[0]}.jsonl")
    return log_dir


def test_closed_files_are_listed_consumed_or_not_and_read_without_a_cut_line(log_dir):
    assert [p.name for p in closed_files(log_dir)] == [f"{STEMS[1]}.jsonl"]
    every = all_closed_files(log_dir)
    assert [(p.parent.name, p.name) for p in every] == [(CONSUMED_DIR, f"{STEMS[0]}.jsonl"),
                                                        ("inference_log", f"{STEMS[1]}.jsonl")]
    assert [r["record_id"] for p in every for r in read_records(p)] == ["r0", "r1"]


def test_files_are_chosen_by_when_they_were_written(log_dir):
    now = datetime.now(timezone.utc)
    assert len(closed_files_since(log_dir, now - timedelta(minutes=5))) == 2, "written just now, consumed or not"
    assert len(closed_files_since(log_dir, now + timedelta(minutes=30))) == 2, "inside the clock margin"
    assert closed_files_since(log_dir, now + timedelta(hours=2)) == []


def test_a_file_consumed_after_the_listing_is_reported_as_gone(log_dir):
    [listed] = closed_files(log_dir)
    assert move(listed, log_dir / CONSUMED_DIR / listed.name)
    with pytest.raises(FileNotFoundError):
        read_records(listed)
    assert closed_files(log_dir) == []
    assert not move(listed, log_dir / CONSUMED_DIR / listed.name), "a second move loses quietly"
