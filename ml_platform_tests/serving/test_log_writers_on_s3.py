"""Writer processes on an object store, each in its own empty working directory with its own spool, as
pods that share nothing: one runs to the end, one is SIGTERMed, one SIGKILLed and restarted on its spool.

What can be lost, stated and checked: a SIGTERM closes and uploads (nothing lost). A SIGKILL loses only
what the writer had accepted and not yet written (its queue: the newest records, a handful); what it had
written waits in the spool and is uploaded when the pod's container restarts. Had the pod been deleted
instead (the spool gone with it), the loss would have been the open segment: the test measures it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from ml_platform.definitions import PROJECT_DIR
from ml_platform.lib.inference_log import OPEN_SUFFIX, closed_files, read_records
from ml_platform.lib.inference_log_upload import SPOOL_ENV
from ml_platform.lib.storage import storage_path
from ml_platform_tests.waiting import eventually

WRITER = "ml_platform_tests.serving.log_writer_process"


class Pod:
    """A writer process with its own empty working directory and spool, and a pod name."""

    def __init__(self, log_dir: str, folder: Path, name: str):
        self.log_dir, self.folder, self.name = log_dir, folder, name
        self.spool = folder / "spool"
        (folder / "work").mkdir(parents=True)

    def start(self, prefix: str, count: int) -> subprocess.Popen:
        self.output = self.folder / f"{prefix}.out"
        env = {**os.environ, "HOSTNAME": self.name, SPOOL_ENV: str(self.spool), "PYTHONPATH": str(PROJECT_DIR)}
        with self.output.open("w") as sink:
            self.process = subprocess.Popen([sys.executable, "-m", WRITER, self.log_dir, prefix, str(count), "60"],
                                            cwd=self.folder / "work", env=env, stdout=sink)
        return self.process

    def printed(self) -> list[str]:
        return [line for line in self.output.read_text().splitlines() if line not in ("started", "closed")]


def spooled(spool: Path) -> list[str]:
    return [r["record_id"] for path in sorted(spool.iterdir()) for r in read_records(path)]


def test_writers_that_share_nothing_lose_only_what_a_sigkill_had_not_written(s3_server, tmp_path):
    log_dir = str(storage_path(s3_server.new_root("pods")) / "inference_log")
    steady, stopped, killed = (Pod(log_dir, tmp_path / name, name) for name in ("pod-a", "pod-b", "pod-c"))
    steady.start("steady", 1500), stopped.start("stopped", 100_000), killed.start("killed", 100_000)
    eventually(lambda: len(stopped.printed()) > 600 and len(killed.printed()) > 600, timeout=60,
               what="both writers well under way")
    killed.process.send_signal(signal.SIGKILL)
    stopped.process.send_signal(signal.SIGTERM)
    assert killed.process.wait(30) == -signal.SIGKILL and stopped.process.wait(60) == 0
    accepted = killed.printed()
    left = sorted(p.name.endswith(OPEN_SUFFIX) for p in killed.spool.iterdir())
    open_segment = spooled(killed.spool)  # what a deleted pod would lose: its spool

    assert killed.start("restarted", 10).wait(60) == 0  # the container restarts on the same spool
    assert steady.process.wait(60) == 0
    assert [list(pod.spool.iterdir()) for pod in (steady, stopped, killed)] == [[], [], []], "all uploaded"

    counts = Counter(r["record_id"] for path in closed_files(log_dir) for r in read_records(path))
    assert set(counts.values()) == {1}, "no record logged twice"
    for pod, prefix in ((steady, "steady"), (stopped, "stopped"), (killed, "restarted")):
        assert set(pod.printed()) <= set(counts), f"{prefix}: a clean close loses nothing"
    lost = [i for i in accepted if i not in counts]
    assert lost == accepted[len(accepted) - len(lost):], "only the newest records, still queued, may be lost"
    assert len(lost) <= 20, f"{len(lost)} records were in the killed writer's queue"
    assert set(open_segment) <= set(counts), "the killed writer's spool was uploaded after the restart"
    logged = {prefix: sum(i.startswith(prefix + "-") for i in counts) for prefix in ("steady", "stopped", "killed")}
    print(f"logged {logged}; lost to the SIGKILL {len(lost)} (queued); the spool held {left.count(True)} open "
          f"and {left.count(False)} closed file(s): a deleted pod would have lost {len(open_segment)} records")
