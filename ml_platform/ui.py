"""`make ui`: `dagster dev` that stops within seconds of Ctrl-C, children included.

`dagster dev` shuts its webserver and daemon down within a second of SIGINT, then spends several more
seconds tearing down its code server; when a terminal's Ctrl-C reaches every process at once it took
longer still. Here `dagster dev` runs in its own process group: Ctrl-C reaches this process only, which
passes one SIGINT to the group, allows a grace period for the clean shutdown, then kills what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

GRACE_SECONDS = 7.0


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def main(argv: list[str]) -> int:
    dagster = Path(sys.executable).with_name("dagster")
    process = subprocess.Popen([str(dagster), "dev", *argv], start_new_session=True)
    asked_at: list[float] = []

    def on_signal(signum, frame) -> None:  # only notes the request: waiting here would deadlock Popen.wait
        if not asked_at:
            asked_at.append(time.monotonic())
            print("\nml_platform: stopping dagster dev...", file=sys.stderr, flush=True)
            _signal_group(process.pid, signal.SIGINT)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while process.poll() is None:
        if asked_at and time.monotonic() - asked_at[0] > GRACE_SECONDS:
            _signal_group(process.pid, signal.SIGKILL)
        time.sleep(0.2)
    _signal_group(process.pid, signal.SIGKILL)  # a child that outlived `dagster dev` goes with it
    return 0 if asked_at else process.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
