"""The log files one writer owns: the open one, and closed ones the folder has not let it rename yet.

Each append is one `write` of whole lines straight to the descriptor (no user-space buffer), so what
was written is exactly what the file holds; a write that fails part-way is cut back to the last whole
append, so a retry elsewhere never duplicates a record.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ml_platform.lib.inference_log import OPEN_SUFFIX, Owner
from ml_platform.lib.inference_log_recovery import publish

logger = logging.getLogger(__name__)


class StolenFile(OSError):
    """The open file was closed by another process: this writer stalled past its lease."""


class OwnedFiles:
    def __init__(self, log_dir: Path, owner: Owner):
        self.log_dir, self.owner = log_dir, owner
        self.path: Path | None = None
        self.size = 0
        self.opened_at = self.touched_at = 0.0
        self.stranded: list[Path] = []  # closed but not renamed yet: the folder refused the rename
        self._fd: int | None = None

    def append(self, data: bytes) -> None:
        """Write whole lines to the open file (opening one if needed), or raise OSError having written none."""
        if self._fd is None:
            self.path = self.log_dir / f"{self.owner.new_stem()}{OPEN_SUFFIX}"
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
            self.size, self.opened_at = 0, time.monotonic()
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError:
            self._cut_back()
            raise
        self.size += len(data)
        self.touched_at = time.monotonic()

    def renew_lease(self) -> None:
        """Touch the open file so no other process takes it; raise StolenFile if one already did."""
        if self.path is None:
            return
        try:
            os.utime(self.path)
        except FileNotFoundError:
            name, self.path = self.path.name, None
            self._close_fd()
            raise StolenFile(f"{name} was closed by another process after this writer stalled") from None
        self.touched_at = time.monotonic()

    def close(self) -> None:
        """Close the open file and rename it (now, or later if the folder refuses: `publish_stranded`)."""
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        finally:
            self._close_fd()
            self.stranded.append(self.path)
            self.path = None

    def publish_stranded(self) -> None:
        """Rename every closed file; raises OSError while the folder refuses (the files stay listed)."""
        while self.stranded:
            publish(self.stranded[0])  # None: a reader's lease recovery published it first
            self.stranded.pop(0)

    def owned(self) -> frozenset[Path]:
        return frozenset([*self.stranded, *([self.path] if self.path else [])])

    def _cut_back(self) -> None:
        try:
            os.ftruncate(self._fd, self.size)
        except OSError:
            logger.error(f"inference log: cannot cut {self.path.name} back after a failed write; its last "
                         "line may be partial (readers skip it)")

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        try:
            os.close(fd)
        except OSError:
            pass  # the descriptor is released either way; the data was fsynced or the error reported
