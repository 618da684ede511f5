"""A process that writes the inference log as one service worker would, for the multi-process tests.

    python -m ml_platform_tests.serving.log_writer_process <log_dir> <prefix> <count> <lease_seconds>

It writes `count` records (`<prefix>-<n>`), one entry every 2 ms, printing each id once `submit`
returned, then closes cleanly; SIGTERM closes cleanly at once (as a worker's shutdown hook does); killed
first, it leaves its open file behind. `log_dir` may be s3://...: records then go through the spool
`ML_PLATFORM_LOG_SPOOL` names, as in a pod.
"""

import os
import signal
import sys
import time

from ml_platform.lib.inference_log_upload import SPOOL_ENV
from ml_platform.lib.inference_log_writer import Entry, InferenceLogWriter


def main(log_dir: str, prefix: str, count: int, lease_seconds: float) -> None:
    writer = InferenceLogWriter(log_dir, max_bytes=2000, lease_seconds=lease_seconds, spool=os.environ.get(SPOOL_ENV))

    stopping = []  # the handler only marks the stop: printing there could split a line the loop is printing
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    print("started", flush=True)
    for n in range(count):
        if stopping:
            break
        writer.submit(Entry([{"record_id": f"{prefix}-{n}", "inputs": {"n": n}}]))
        print(f"{prefix}-{n}", flush=True)
        time.sleep(0.002)
    writer.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
