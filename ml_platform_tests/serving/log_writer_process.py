"""A process that writes the inference log as one service worker would, for the multi-process tests.

    python -m ml_platform_tests.serving.log_writer_process <log_dir> <prefix> <count> <lease_seconds>

It writes `count` records (`<prefix>-<n>`), one entry every 2 ms, printing each id once `submit`
returned, then closes cleanly; killed first, it leaves its open file behind.
"""

import sys
import time

from ml_platform.lib.inference_log_writer import Entry, InferenceLogWriter


def main(log_dir: str, prefix: str, count: int, lease_seconds: float) -> None:
    writer = InferenceLogWriter(log_dir, max_bytes=2000, lease_seconds=lease_seconds)
    print("started", flush=True)
    for n in range(count):
        writer.submit(Entry([{"record_id": f"{prefix}-{n}", "inputs": {"n": n}}]))
        print(f"{prefix}-{n}", flush=True)
        time.sleep(0.002)
    writer.close()
    print("closed", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
