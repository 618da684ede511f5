"""The inference log on an object store: a store that refuses uploads costs readiness, never records.

The refusal is real: the log names a bucket that does not exist yet (the server answers Access Denied),
and creating the bucket is the repair, as an operator would fix a policy or a bucket name.
"""

from __future__ import annotations

import secrets

from ml_platform.lib.inference_log import CONSUMED_DIR, closed_files, read_records
from ml_platform.lib.inference_log_upload import upload
from ml_platform.lib.inference_log_writer import Entry, InferenceLogWriter
from ml_platform.lib.storage import move, storage_path
from ml_platform_tests.waiting import eventually


def entry(start: int, count: int) -> Entry:
    return Entry([{"record_id": f"r{i}", "inputs": {"n": i}} for i in range(start, start + count)])


def test_a_store_that_refuses_uploads_makes_the_writer_unhealthy_and_loses_nothing(s3_server, tmp_path):
    bucket = f"later-{secrets.token_hex(4)}"
    log_dir, spool = storage_path(f"s3://{bucket}/log"), tmp_path / "spool"
    writer = InferenceLogWriter(log_dir, max_bytes=500, spool=spool)
    for n in range(20):
        writer.submit(entry(n * 5, 5))
    error = eventually(lambda: writer.error, timeout=20, what="the failed upload reported")
    assert "cannot upload" in error and not writer.healthy
    assert len(list(spool.glob("*.jsonl"))) > 3, "closed files wait in the spool"

    log_dir.fs.mkdir(bucket)  # the repair
    eventually(lambda: writer.healthy, timeout=30, what="healthy again once uploads work")
    writer.submit(entry(100, 5))
    writer.close()
    ids = [r["record_id"] for path in closed_files(log_dir) for r in read_records(path)]
    assert ids == [f"r{i}" for i in range(105)], "every record once, in order"
    assert list(spool.iterdir()) == []


def test_a_file_uploaded_before_a_crash_is_not_logged_again(s3_server, tmp_path):
    """The process died after the PUT and before removing its spool copy: the next start finds it."""
    log_dir = storage_path(s3_server.new_root("reupload")) / "log"
    spool = tmp_path / "spool"
    spool.mkdir()
    pending, consumed = spool / "inference-a.jsonl", spool / "inference-b.jsonl"
    for path in (pending, consumed):
        path.write_text('{"record_id": "x"}\n')
        assert upload(path, log_dir)
        path.write_text('{"record_id": "x"}\n')  # as if the removal never happened
    assert move(log_dir / consumed.name, log_dir / CONSUMED_DIR / consumed.name)  # the loop consumed it

    assert upload(pending, log_dir) and upload(consumed, log_dir)
    assert [p.name for p in closed_files(log_dir)] == [pending.name], "a consumed file is not brought back"
    assert list(spool.iterdir()) == []
