"""The inference-log writer on real files: rotation, a complete close, what it counts instead of losing.

Each test runs on a folder and on an object store (written through a local spool, then uploaded)."""

from __future__ import annotations

import pytest

from ml_platform.lib.inference_log import Owner, closed_files, owner_of, read_records
from ml_platform.lib.inference_log_writer import Counters, Entry, InferenceLogWriter
from ml_platform.lib.storage import storage_path
from ml_platform_tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("storage_kind")


@pytest.fixture
def log_dir(storage_root):
    return storage_path(storage_root) / "inference_log"


def writer(log_dir, tmp_path, **kwargs) -> InferenceLogWriter:
    return InferenceLogWriter(log_dir, spool=tmp_path / "spool", **kwargs)


def records(start: int, count: int) -> list[dict]:
    return [{"record_id": f"r{i}", "request_id": "same-for-all", "timestamp": "2026-01-01T00:00:00+00:00",
             "model_version": "1", "inputs": {"age": i}, "prediction": "a", "probabilities": {"a": 1.0}}
            for i in range(start, start + count)]


def logged_ids(folder) -> list[str]:
    return [r["record_id"] for f in closed_files(folder) for r in read_records(f)]


class Counted:
    def __init__(self):
        self.dropped, self.shadow_errors = {}, 0

    def counters(self) -> Counters:
        def dropped(count, reason):
            self.dropped[reason] = self.dropped.get(reason, 0) + count

        def shadow_error():
            self.shadow_errors += 1

        return Counters(dropped=dropped, shadow_error=shadow_error)


def test_rotates_by_size_and_close_leaves_only_closed_files_with_every_record(log_dir, tmp_path):
    log = writer(log_dir, tmp_path, max_bytes=1000)
    for batch in range(50):
        log.submit(Entry(records(batch * 4, 4)))
    log.close()
    assert [p.name for p in log_dir.iterdir() if not p.name.endswith(".jsonl")] == [], "no open file left"
    assert not (tmp_path / "spool").exists() or list((tmp_path / "spool").iterdir()) == [], "all uploaded"
    assert len(closed_files(log_dir)) > 5
    assert logged_ids(log_dir) == [f"r{i}" for i in range(200)]


def test_rotates_by_age_while_idle(log_dir, tmp_path):
    log = writer(log_dir, tmp_path, max_seconds=0.3)
    log.submit(Entry(records(0, 3)))
    [closed] = eventually(lambda: closed_files(log_dir), timeout=10, what="rotation of the idle file")
    assert [r["record_id"] for r in read_records(closed)] == ["r0", "r1", "r2"]
    log.close()


def test_records_that_are_not_json_are_counted_and_the_rest_is_written(log_dir, tmp_path):
    counted = Counted()
    log = writer(log_dir, tmp_path, counters=counted.counters())
    log.submit(Entry([{"record_id": "nan", "probabilities": {"a": float("nan")}}]))
    log.submit(Entry(records(0, 2)))
    log.close()
    assert logged_ids(log_dir) == ["r0", "r1"]
    assert counted.dropped == {"unrenderable": 1}


def test_a_shadow_that_raises_costs_only_its_own_answers(log_dir, tmp_path):
    counted = Counted()

    def broken_shadow(logged):
        raise ArithmeticError("shadow returned NaN")

    def working_shadow(logged):
        for record in logged:
            record["shadow"] = {"prediction": "b"}

    log = writer(log_dir, tmp_path, counters=counted.counters())
    log.submit(Entry(records(0, 3), shadow=broken_shadow))
    log.submit(Entry(records(3, 2), shadow=working_shadow))
    log.close()
    logged = [r for f in closed_files(log_dir) for r in read_records(f)]
    assert [r["record_id"] for r in logged] == ["r0", "r1", "r2", "r3", "r4"]
    assert ["shadow" in r for r in logged] == [False, False, False, True, True]
    assert counted.shadow_errors == 1 and counted.dropped == {}


def test_each_writer_owns_uniquely_named_files_that_name_it(log_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "ml-platform-bento-7f9c-x2x")
    first, second = writer(log_dir / "a", tmp_path / "a"), writer(log_dir / "b", tmp_path / "b")
    first.submit(Entry(records(0, 1)))
    second.submit(Entry(records(1, 1)))
    first.close()
    second.close()
    owners = [owner_of(path) for path in [*closed_files(log_dir / "a"), *closed_files(log_dir / "b")]]
    assert [o.host for o in owners] == ["ml-platform-bento-7f9c-x2x"] * 2
    assert owners[0].pid == owners[1].pid and owners[0].token != owners[1].token
    assert owners[0].start == Owner.me().start and owners[0].start > 0
