"""A process that consumes the inference log in a loop, as a sensor tick would, for the multi-process tests.

    python -m ml_platform_tests.loop.consumer_process <log_dir> <landing_dir> <stop_file> <prefix:count>...

Every record `<prefix>-<n>` (n < count) has a label, so every record of a consumed file lands. It runs
`consume` until `stop_file` exists, then once more, printing each file it reports consumed; any
exception ends it with a traceback and a non-zero status.
"""

import sys
import time
import zlib
from pathlib import Path

import pandas as pd

from ml_platform.lib.inference_batches import consume
from ml_platform.lib.inference_log_recovery import folder_now
from ml_platform.lib.labels import Labels
from ml_platform.lib.spec import load_spec
from ml_platform.lib.storage import storage_path

SPEC = load_spec(Path(__file__).resolve().parents[2] / "datasets" / "customer_segmentation.yaml")


def label_of(record_id: str) -> str:
    classes = SPEC.target.classes
    return classes[zlib.crc32(record_id.encode()) % len(classes)]


def main(log_dir: str, landing_dir: str, stop_file: str, writers: list[str]) -> None:
    ids = [f"{prefix}-{n}" for prefix, count in (w.split(":") for w in writers) for n in range(int(count))]
    labels = Labels(pd.DataFrame({"record_id": ids, "label": [label_of(i) for i in ids]}))
    log, landing, rounds = storage_path(log_dir), storage_path(landing_dir), 0
    while True:
        stopping = Path(stop_file).exists()
        for item in consume(log, labels, SPEC, landing, wait_seconds=0, now=folder_now(log)):
            print(item.source.name, flush=True)
        rounds += 1
        if stopping:
            print(f"rounds {rounds}", file=sys.stderr, flush=True)
            return
        time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
