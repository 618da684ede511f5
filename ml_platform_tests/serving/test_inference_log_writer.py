"""The inference-log writer on real files: rotation, a complete close, what it counts instead of losing."""

from __future__ import annotations

from ml_platform.lib.inference_log import OPEN_SUFFIX, Owner, closed_files, owner_of, read_records
from ml_platform.lib.inference_log_writer import Counters, Entry, InferenceLogWriter
from ml_platform_tests.waiting import eventually


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


def test_rotates_by_size_and_close_leaves_only_closed_files_with_every_record(tmp_path):
    writer = InferenceLogWriter(tmp_path, max_bytes=1000)
    for batch in range(50):
        writer.submit(Entry(records(batch * 4, 4)))
    writer.close()
    assert not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))
    assert len(closed_files(tmp_path)) > 5
    assert logged_ids(tmp_path) == [f"r{i}" for i in range(200)]


def test_rotates_by_age_while_idle(tmp_path):
    writer = InferenceLogWriter(tmp_path, max_seconds=0.3)
    writer.submit(Entry(records(0, 3)))
    [closed] = eventually(lambda: closed_files(tmp_path), timeout=10, what="rotation of the idle file")
    assert [r["record_id"] for r in read_records(closed)] == ["r0", "r1", "r2"]
    writer.close()


def test_records_that_are_not_json_are_counted_and_the_rest_is_written(tmp_path):
    counted = Counted()
    writer = InferenceLogWriter(tmp_path, counters=counted.counters())
    writer.submit(Entry([{"record_id": "nan", "probabilities": {"a": float("nan")}}]))
    writer.submit(Entry(records(0, 2)))
    writer.close()
    assert logged_ids(tmp_path) == ["r0", "r1"]
    assert counted.dropped == {"unrenderable": 1}


def test_a_shadow_that_raises_costs_only_its_own_answers(tmp_path):
    counted = Counted()

    def broken_shadow(logged):
        raise ArithmeticError("shadow returned NaN")

    def working_shadow(logged):
        for record in logged:
            record["shadow"] = {"prediction": "b"}

    writer = InferenceLogWriter(tmp_path, counters=counted.counters())
    writer.submit(Entry(records(0, 3), shadow=broken_shadow))
    writer.submit(Entry(records(3, 2), shadow=working_shadow))
    writer.close()
    logged = [r for f in closed_files(tmp_path) for r in read_records(f)]
    assert [r["record_id"] for r in logged] == ["r0", "r1", "r2", "r3", "r4"]
    assert ["shadow" in r for r in logged] == [False, False, False, True, True]
    assert counted.shadow_errors == 1 and counted.dropped == {}


def test_each_writer_owns_uniquely_named_files_that_name_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOSTNAME", "ml-platform-bento-7f9c-x2x")
    first, second = InferenceLogWriter(tmp_path / "a"), InferenceLogWriter(tmp_path / "b")
    first.submit(Entry(records(0, 1)))
    second.submit(Entry(records(1, 1)))
    first.close()
    second.close()
    owners = [owner_of(path) for path in [*closed_files(tmp_path / "a"), *closed_files(tmp_path / "b")]]
    assert [o.host for o in owners] == ["ml-platform-bento-7f9c-x2x"] * 2
    assert owners[0].pid == owners[1].pid and owners[0].token != owners[1].token
    assert owners[0].start == Owner.me().start and owners[0].start > 0
