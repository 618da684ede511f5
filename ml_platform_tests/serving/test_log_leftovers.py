"""Several real processes share one log folder: leftovers are closed exactly once, live files never.

What a SIGKILL may lose is stated and checked: the records the killed writer had accepted but not yet
written (its queue), never a record it had written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.inference_log import OPEN_SUFFIX, Owner, closed_files, read_records
from ml_platform.lib.inference_log_recovery import recover
from ml_platform_tests.waiting import eventually

WRITER = "ml_platform_tests.serving.log_writer_process"


class WriterProcess:
    def __init__(self, log_dir: Path, host: str, prefix: str, count: int, lease: float):
        self.output = log_dir.parent / f"{prefix}.out"
        with self.output.open("w") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", WRITER, str(log_dir), prefix, str(count), str(lease)],
                                            cwd=PROJECT_DIR, env={**os.environ, "HOSTNAME": host}, stdout=sink)

    def printed(self) -> list[str]:
        return [line for line in self.output.read_text().splitlines() if line not in ("started", "closed")]

    def finish(self) -> None:
        assert self.process.wait(60) == 0


def killed_writer(log_dir: Path, lease: float, records_before_kill: int) -> tuple[WriterProcess, Path]:
    """A writer on host pod-a SIGKILLed mid-run, and the open file it leaves behind."""
    killed = WriterProcess(log_dir, "pod-a", "killed", 100_000, lease=lease)
    eventually(lambda: len(killed.printed()) > records_before_kill, what="the first writer's records")
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait()
    [leftover] = log_dir.glob(f"*{OPEN_SUFFIX}")
    return killed, leftover


def logged(log_dir: Path) -> Counter:
    return Counter(r["record_id"] for f in closed_files(log_dir) for r in read_records(f))


def test_a_killed_writer_is_recovered_by_its_own_host_at_once_and_by_others_after_the_lease(tmp_path):
    log_dir = tmp_path / "log"
    killed, leftover = killed_writer(log_dir, lease=4.0, records_before_kill=300)

    other_host = Owner("pod-b", os.getpid(), Owner.me().start, "feedbeef")
    assert recover(log_dir, lease_seconds=4.0, me=other_host) == [], "pod-b must wait for the lease"
    successor = WriterProcess(log_dir, "pod-a", "successor", 10, lease=4.0)  # the pod restarted
    successor.finish()
    assert not leftover.exists(), "the owner's host closes its dead writer's file at start, lease or not"

    counts, printed = logged(log_dir), killed.printed()
    assert all(n == 1 for n in counts.values()), "a record is logged at most once"
    lost = [record_id for record_id in printed if record_id not in counts]
    assert lost == printed[len(printed) - len(lost):], "only the newest records, still queued, may be lost"
    assert len(lost) <= 20, f"{len(lost)} records were in the killed writer's queue"


def test_another_hosts_leftover_is_closed_after_the_lease_by_a_running_writer(tmp_path):
    log_dir = tmp_path / "log"
    _, leftover = killed_writer(log_dir, lease=2.0, records_before_kill=50)
    started = time.monotonic()
    neighbour = WriterProcess(log_dir, "pod-b", "neighbour", 2500, lease=2.0)  # about 6 s of writing
    eventually(lambda: not leftover.exists(), timeout=15, what="pod-b closing pod-a's leftover")
    assert time.monotonic() - started >= 1.0, "closed before the lease could expire"
    neighbour.finish()
    assert set(neighbour.printed()) <= set(logged(log_dir))


def test_a_live_writer_is_never_disturbed_however_often_others_recover(tmp_path):
    log_dir = tmp_path / "log"
    live = WriterProcess(log_dir, "pod-a", "live", 1500, lease=1.0)
    stranger = Owner("pod-b", os.getpid(), Owner.me().start, "0ddba11")
    taken = []
    while live.process.poll() is None:
        if log_dir.exists():
            taken += recover(log_dir, lease_seconds=1.0, me=stranger)
        time.sleep(0.05)
    live.finish()
    assert taken == []
    counts = logged(log_dir)
    assert sorted(counts) == sorted(live.printed()) and set(counts.values()) == {1}


RACER = """
import sys, time
from ml_platform.lib.inference_log_recovery import recover
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
for path in recover(sys.argv[1], lease_seconds=1.0):
    print(path.name, flush=True)
"""


def test_processes_racing_to_recover_close_each_leftover_exactly_once(tmp_path):
    log_dir = tmp_path / "log"
    log_dir.mkdir()
    expected = {}
    for n in range(40):
        part = log_dir / f"inference-20260101T0000{n:02d}.000000-{1000 + n}-1-abcd-gone-pod-{n % 3}{OPEN_SUFFIX}"
        part.write_text("".join(f'{{"record_id": "f{n}-{i}"}}\n' for i in range(5)) + '{"record_id": "cut')
        os.utime(part, (time.time() - 60, time.time() - 60))
        expected[part.name.removesuffix(".part")] = [f"f{n}-{i}" for i in range(5)]
    start_at = str(time.time() + 3)
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(log_dir), start_at], cwd=PROJECT_DIR,
                               stdout=subprocess.PIPE, text=True) for _ in range(4)]
    closed_by = [racer.communicate(timeout=60)[0].split() for racer in racers]
    every = [name for names in closed_by for name in names]
    assert sorted(every) == sorted(expected), "each leftover closed by exactly one process"
    assert {path.name: [r["record_id"] for r in read_records(path)] for path in closed_files(log_dir)} == expected
