"""The inference-log writer on real files: rotation, a complete close, and files a crash left open."""

from __future__ import annotations

import os

from ml_platform.lib.inference_log import CLOSED_SUFFIX, OPEN_SUFFIX, closed_files, read_records
from ml_platform.lib.inference_log_writer import InferenceLogWriter, close_orphans
from ml_platform_tests.waiting import eventually


def records(start: int, count: int) -> list[dict]:
    return [{"request_id": f"r{i}", "timestamp": "2026-01-01T00:00:00+00:00", "model_version": "1",
             "inputs": {"age": i}, "prediction": "a", "probabilities": {"a": 1.0}} for i in range(start, start + count)]


def test_rotates_by_size_and_close_leaves_only_closed_files_with_every_record(tmp_path):
    writer = InferenceLogWriter(tmp_path, max_bytes=1000)
    for batch in range(50):
        writer.submit(lambda batch=batch: records(batch * 4, 4))
    writer.close()
    assert not list(tmp_path.glob(f"*{OPEN_SUFFIX}"))
    files = closed_files(tmp_path)
    assert len(files) > 5
    assert [r["request_id"] for f in files for r in read_records(f)] == [f"r{i}" for i in range(200)]


def test_rotates_by_age_while_idle(tmp_path):
    writer = InferenceLogWriter(tmp_path, max_seconds=0.3)
    writer.submit(lambda: records(0, 3))
    [closed] = eventually(lambda: closed_files(tmp_path), timeout=10, what="rotation of the idle file")
    assert [r["request_id"] for r in read_records(closed)] == ["r0", "r1", "r2"]
    writer.close()


def test_a_bad_batch_is_skipped_and_the_rest_is_written(tmp_path):
    writer = InferenceLogWriter(tmp_path)
    writer.submit(lambda: [{"request_id": "nan", "probabilities": {"a": float("nan")}}])
    writer.submit(lambda: records(0, 2))
    writer.close()
    assert [r["request_id"] for f in closed_files(tmp_path) for r in read_records(f)] == ["r0", "r1"]


def test_files_left_open_by_a_dead_process_are_closed_at_their_last_whole_line(tmp_path):
    dead_pid = 2**22 + 12345
    while True:
        try:
            os.kill(dead_pid, 0)
            dead_pid += 1
        except ProcessLookupError:
            break
    (tmp_path / f"inference-20260101T000000.000000-{dead_pid}{OPEN_SUFFIX}").write_text(
        '{"request_id": "whole"}\n{"request_id": "cut of')
    (tmp_path / f"inference-20260101T000001.000000-{dead_pid}{OPEN_SUFFIX}").write_text('{"request_id": "cu')
    live = tmp_path / f"inference-20260101T000002.000000-{os.getppid()}{OPEN_SUFFIX}"
    live.write_text('{"request_id": "still being written"}\n')
    close_orphans(tmp_path)
    assert [p.name.endswith(CLOSED_SUFFIX) for p in closed_files(tmp_path)] == [True]
    assert read_records(closed_files(tmp_path)[0]) == [{"request_id": "whole"}]
    assert live.exists()
