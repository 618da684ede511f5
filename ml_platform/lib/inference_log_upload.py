"""The inference log on an object store: each writer spools locally and uploads whole closed files.

No object can be appended to, and pods share no volume, so a writer does on a local spool folder (an
emptyDir of its pod) exactly what it does on a shared folder: whole lines appended to `<stem>.jsonl.part`,
closed by a rename to `<stem>.jsonl`. This thread uploads each closed file as one object,
`<log>/<stem>.jsonl` (one PUT: readers never see part of it), then removes it from the spool. A failed
upload stays in the spool and is retried (1 s, doubling to 10 s); `error` says so meanwhile, which turns
/readyz unready. Any worker of a pod uploads any closed file of its spool, leftovers of a dead worker
too; an exclusive `flock` on the file makes exactly one of them upload it. The PUT is create-if-absent
and skipped once the file is in `consumed/`, so a crash between the PUT and the removal from the spool
cannot log a file twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import math
import os
import tempfile
import threading
import time
from pathlib import Path

from upath import UPath

from ml_platform.lib.inference_log import CLOSED_SUFFIX, CONSUMED_DIR
from ml_platform.lib.storage import write_new

logger = logging.getLogger(__name__)
# Rotation age on an object store: the open file is all a deleted pod loses (its spool goes with it),
# so it is kept to a minute; each worker with traffic then makes at most one object a minute.
MAX_SECONDS_ON_OBJECT_STORE = 60.0
SPOOL_ENV = "ML_PLATFORM_LOG_SPOOL"


def default_spool(log_dir: UPath) -> Path:
    """A spool under the temp dir, one per destination and the same after a restart, so leftovers are found."""
    digest = hashlib.sha256(str(log_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ml_platform-inference-log-spool-{digest}"


def upload(path: Path, log_dir: UPath) -> bool:
    """Upload one closed spool file and remove it; False if another process of this pod has it or had it."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # another worker is uploading it
        if os.fstat(handle.fileno()).st_nlink == 0:
            return False  # uploaded and removed while this one opened it
        data = handle.read()
        if not (log_dir / CONSUMED_DIR / path.name).exists():  # consumed: uploaded before a crash
            write_new(log_dir / path.name, data)  # False: uploaded before a crash, not yet consumed
        path.unlink()
    return True


class SpoolUploader:
    def __init__(self, spool: Path, log_dir: UPath, max_delay: float = 10.0):
        self.spool, self.log_dir, self.max_delay = spool, log_dir, max_delay
        self.error: str | None = None
        self.uploaded = 0
        self._wake, self._stop, self._deadline = threading.Event(), threading.Event(), math.inf
        self._thread = threading.Thread(target=self._run, name="inference-log-upload", daemon=True)
        self._thread.start()

    def nudge(self) -> None:
        """A file was closed: upload now rather than at the next timed pass."""
        self._wake.set()

    def close(self, timeout: float) -> None:
        """Upload what the spool holds, retrying for up to `timeout` s; what still fails waits for the next start."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout + 5)

    def upload_spool(self) -> bool:
        """One pass over the spool's closed files, oldest first; True when none is left waiting."""
        for path in sorted(self.spool.glob(f"*{CLOSED_SUFFIX}")):
            try:
                self.uploaded += upload(path, self.log_dir)
            except Exception as exc:  # s3fs raises OSError, botocore its own: the store is unreachable
                if self.error is None:
                    logger.error(f"inference log: cannot upload {path.name} to {self.log_dir} ({exc}); "
                                 "closed files wait in the spool and are retried")
                self.error = f"cannot upload to {self.log_dir}: {exc}"
                return False  # the rest would fail alike: wait, then retry from the oldest
        if self.error is not None:
            logger.warning(f"inference log: uploads to {self.log_dir} work again")
        self.error = None
        return True

    def _run(self) -> None:
        delay = 1.0
        while True:
            stopping = self._stop.is_set()  # read first: a pass that began earlier may miss the last file
            try:
                done = self.upload_spool()
            except OSError as exc:  # the spool itself cannot be listed
                self.error, done = f"cannot read the spool {self.spool}: {exc}", False
            if stopping and (done or time.monotonic() >= self._deadline):
                return
            delay = 1.0 if done else min(delay * 2, self.max_delay)
            if stopping:
                delay = max(0.0, min(0.5, self._deadline - time.monotonic()))
            self._wake.wait(delay)
            self._wake.clear()
