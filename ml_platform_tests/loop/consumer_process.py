"""A process that consumes the inference log in a loop, as a sensor tick would, for the multi-process tests.

    python -m ml_platform_tests.loop.consumer_process <log_dir> <landing_dir> <stop_file> <epoch> <prefix:count>...

Every record `<prefix>-<n>` (n < count) has a label, so every record of a consumed file lands. It runs
the sensor's two steps, `consume` and `seal`, until `stop_file` exists, then once more, printing each
file it reports consumed; any exception ends it with a traceback and a non-zero status. Its clock runs
`SPEEDUP` times faster from `epoch` (shared by all consumers), so one-minute windows end every half
second and sealing races consuming many times in a test.
"""

import sys
import time
import zlib
from pathlib import Path

import pandas as pd

from ml_platform.lib.inference_batches import batch_name, consume
from ml_platform.lib.inference_log import closed_files
from ml_platform.lib.inference_log_recovery import folder_now
from ml_platform.lib.labels import Labels
from ml_platform.lib.served_batches import seal
from ml_platform.lib.spec import load_spec
from ml_platform.lib.storage import storage_path

SPEEDUP = 120
SPEC = load_spec(Path(__file__).resolve().parents[2] / "datasets" / "customer_segmentation.yaml")


def label_of(record_id: str) -> str:
    classes = SPEC.target.classes
    return classes[zlib.crc32(record_id.encode()) % len(classes)]


def main(log_dir: str, landing_dir: str, stop_file: str, epoch: float, writers: list[str]) -> None:
    ids = [f"{prefix}-{n}" for prefix, count in (w.split(":") for w in writers) for n in range(int(count))]
    labels = Labels(pd.DataFrame({"record_id": ids, "label": [label_of(i) for i in ids]}))
    log, landing, rounds = storage_path(log_dir), storage_path(landing_dir), 0
    while True:
        stopping = Path(stop_file).exists()
        now = epoch + (folder_now(log) - epoch) * SPEEDUP
        for item in consume(log, labels, SPEC, landing, wait_seconds=0, now=now, window_minutes=1):
            print(item.source.name, flush=True)
        seal(landing, {batch_name(path) for path in closed_files(log)}, now, minutes=1)
        rounds += 1
        if stopping:
            print(f"rounds {rounds}", file=sys.stderr, flush=True)
            return
        time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5:])
