"""The writer side of the inference log (format: `ml_platform.lib.inference_log`).

A request thread only puts an `Entry` on a bounded queue; one background thread renders it, appends it
to a file this process owns and rotates that file by size or age. Nothing it meets stops it: a shadow
model that raises costs only the shadow's answer, a write that fails is retried and then counted as
dropped, and while the folder cannot be written `healthy` is False so /readyz drains the replica.
Closing drains the queue and closes the last file, so a clean shutdown loses nothing.

On an object store (`log_dir` is s3://...) the same files are written to a local spool and each closed
one is uploaded whole (`inference_log_upload.py`); `healthy` is then also False while uploads fail.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_platform.lib.inference_log import Owner, as_folder
from ml_platform.lib.inference_log_file import OwnedFiles, StolenFile
from ml_platform.lib.inference_log_recovery import folder_now, recover
from ml_platform.lib.inference_log_upload import SpoolUploader, default_spool
from ml_platform.lib.storage import is_remote

logger = logging.getLogger(__name__)
_CLOSE = object()
RETRY_DELAYS = (0.05, 0.2, 0.5)


@dataclass(frozen=True)
class Entry:
    """Records already built for the champion's answers; `shadow`, if any, adds its answers later."""

    records: list[dict[str, Any]]
    shadow: Callable[[list[dict[str, Any]]], None] | None = None


@dataclass(frozen=True)
class Counters:
    """Where the writer reports what it could not do (Prometheus counters in the service)."""

    dropped: Callable[[int, str], None] = lambda count, reason: None
    shadow_error: Callable[[], None] = lambda: None
    write_error: Callable[[], None] = lambda: None
    writable: Callable[[bool], None] = lambda ok: None


class InferenceLogWriter:
    def __init__(self, log_dir: str | Path, max_bytes: int = 64 * 1024 * 1024, max_seconds: float = 300.0,
                 max_pending: int = 10_000, lease_seconds: float = 60.0, counters: Counters = Counters(),
                 spool: str | Path | None = None):
        self.destination = as_folder(log_dir)  # where readers find closed files
        remote = is_remote(self.destination)
        self.log_dir = Path(spool or default_spool(self.destination)) if remote else Path(os.fspath(log_dir))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_seconds, self.lease_seconds = max_bytes, max_seconds, lease_seconds
        self.counters, self.owner = counters, Owner.me()
        self._error: str | None = None  # the folder (or spool) refuses writes
        self._shadow_failures = 0
        self._files = OwnedFiles(self.log_dir, self.owner)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._recovered_at = time.monotonic()
        recover(self.log_dir, lease_seconds, self.owner)
        self._uploader = SpoolUploader(self.log_dir, self.destination) if remote else None
        self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
        self._thread.start()

    @property
    def error(self) -> str | None:
        """Why records would not reach the reader now: the folder refuses writes, or uploads fail."""
        return self._error or (self._uploader.error if self._uploader else None)

    @property
    def healthy(self) -> bool:
        return self.error is None and self._thread.is_alive()

    def submit(self, entry: Entry) -> None:
        """Never blocks: if the writer is hopelessly behind, the records are dropped and counted."""
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.counters.dropped(len(entry.records), "queue_full")

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then close the file so the reader can take it."""
        deadline = time.monotonic() + timeout
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._thread.join(timeout)
        if self._uploader is not None:
            self._uploader.close(max(1.0, deadline - time.monotonic()))

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=1.0)
            except queue.Empty:
                item = None
            try:
                if item is _CLOSE:
                    self._close_file()
                    return
                if item is not None:
                    self._write(item)
                self._housekeeping()
            except Exception as exc:  # the thread must outlive anything one entry does
                logger.exception("inference log: unexpected error; the writer carries on")
                self._error = f"unexpected: {exc}"
            self.counters.writable(self.error is None)

    def _write(self, entry: Entry) -> None:
        if entry.shadow is not None:
            try:
                entry.shadow(entry.records)
            except Exception:
                self._shadow_failures += 1
                if self._shadow_failures % 1000 == 1:  # a broken shadow fails every call: log, don't flood
                    logger.exception(f"inference log: the shadow model failed ({self._shadow_failures} times so "
                                     "far); champion records are logged without its answer")
                self.counters.shadow_error()
        try:
            lines = "".join(json.dumps(r, allow_nan=False, separators=(",", ":")) + "\n" for r in entry.records)
        except (TypeError, ValueError):
            logger.exception("inference log: records that are not JSON; dropped")
            self.counters.dropped(len(entry.records), "unrenderable")
            return
        delays = RETRY_DELAYS if self._error is None else ()  # a folder known to refuse gets one try
        for attempt in range(len(delays) + 1):
            try:
                if self._files.path and time.monotonic() - self._files.touched_at >= self.lease_seconds / 4:
                    self._files.renew_lease()  # after a stall: never append to a file a reader took
                self._files.append(lines.encode())
            except OSError as exc:
                self.counters.write_error()
                self._error = f"cannot write to {self.log_dir}: {exc}"
                self._close_file()
                if attempt < len(delays):
                    time.sleep(delays[attempt])
                continue
            if self._files.size >= self.max_bytes:
                self._close_file()
            elif not self._files.stranded:
                self._error = None
            return
        logger.error(f"inference log: {len(entry.records)} records dropped: {self.error}")
        self.counters.dropped(len(entry.records), "write_error")

    def _housekeeping(self) -> None:
        """Rotate by age, renew the lease, retry what the folder refused, recover files of dead writers."""
        files, now = self._files, time.monotonic()
        if files.path is not None and now - files.opened_at >= self.max_seconds:
            self._close_file()
        elif files.path is not None and now - files.touched_at >= self.lease_seconds / 4:
            try:
                files.renew_lease()
            except StolenFile as exc:
                logger.warning(f"inference log: {exc}; its later lines may be lost, starting a new file")
        if files.stranded or self._error:
            self._publish()
        if now - self._recovered_at >= self.lease_seconds / 2:
            self._recovered_at = now
            if recover(self.log_dir, self.lease_seconds, self.owner, files.owned()) and self._uploader:
                self._uploader.nudge()

    def _close_file(self) -> None:
        try:
            self._files.close()
        except OSError as exc:
            self._error = f"cannot close a log file in {self.log_dir}: {exc}"
        self._publish()

    def _publish(self) -> None:
        """Rename closed files; healthy again once the folder takes files (a probe write says so), with
        or without a file open: an unready replica gets no traffic, so it cannot wait for a write."""
        try:
            self._files.publish_stranded()
            if self._error is not None:
                folder_now(self.log_dir)
                self._error = None
        except OSError as exc:
            self._error = f"cannot write to {self.log_dir}: {exc}"
        if self._uploader is not None:
            self._uploader.nudge()
