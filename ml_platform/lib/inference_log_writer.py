"""The writer side of the inference log (format and reader: `ml_platform.lib.inference_log`).

A request thread only puts a callable on a queue; one background thread turns it into lines, appends
them to the open `.jsonl.part` file and rotates it by size or age with an atomic rename. Closing drains
the queue and closes the last file, so a clean shutdown loses nothing. Files left open by a process
that died are closed at the next start, cut back to their last whole line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from ml_platform.lib.inference_log import CLOSED_SUFFIX, OPEN_SUFFIX, new_stem

logger = logging.getLogger(__name__)
Producer = Callable[[], Iterable[dict[str, Any]]]
_CLOSE = object()


class InferenceLogWriter:
    def __init__(self, log_dir: str | Path, max_bytes: int = 64 * 1024 * 1024, max_seconds: float = 300.0,
                 max_pending: int = 100_000, on_drop: Callable[[], None] = lambda: None):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_seconds, self.on_drop = max_bytes, max_seconds, on_drop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending)
        self._file: IO[str] | None = None
        self._opened_at = 0.0
        close_orphans(self.log_dir)
        self._thread = threading.Thread(target=self._run, name="inference-log-writer", daemon=True)
        self._thread.start()

    def submit(self, producer: Producer) -> None:
        """Never blocks: if the writer is hopelessly behind, the records are dropped and counted."""
        try:
            self._queue.put_nowait(producer)
        except queue.Full:
            self.on_drop()

    def close(self, timeout: float = 30.0) -> None:
        """Write everything submitted so far, then close the file so the reader can take it."""
        if self._thread.is_alive():
            self._queue.put(_CLOSE)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=min(self.max_seconds, 1.0))
            except queue.Empty:
                self._rotate_if_due()
                continue
            if item is _CLOSE:
                self._rotate()
                return
            self._write(item)
            if self._queue.empty() and self._file is not None:
                self._file.flush()
            self._rotate_if_due()

    def _write(self, producer: Producer) -> None:
        try:
            lines = [json.dumps(record, allow_nan=False, separators=(",", ":")) for record in producer()]
        except Exception:
            logger.exception("inference log: could not render a batch of records; it is skipped")
            return
        if not lines:
            return
        if self._file is None:
            self._file = (self.log_dir / f"{new_stem()}{OPEN_SUFFIX}").open("a", encoding="utf-8")
            self._opened_at = time.monotonic()
        self._file.write("\n".join(lines) + "\n")

    def _rotate_if_due(self) -> None:
        if self._file is None:
            return
        if self._file.tell() >= self.max_bytes or time.monotonic() - self._opened_at >= self.max_seconds:
            self._rotate()

    def _rotate(self) -> None:
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        _publish(Path(self._file.name))
        self._file = None


def close_orphans(log_dir: Path) -> list[Path]:
    """Close `.part` files whose writer process is gone, keeping only whole lines."""
    closed = []
    for part in sorted(Path(log_dir).glob(f"*{OPEN_SUFFIX}")):
        pid = int(part.name.removesuffix(OPEN_SUFFIX).rsplit("-", 1)[-1])
        if pid != os.getpid() and _alive(pid):
            continue
        whole_lines = part.read_bytes()
        whole_lines = whole_lines[: whole_lines.rfind(b"\n") + 1]
        if not whole_lines:
            part.unlink()
            continue
        part.write_bytes(whole_lines)
        closed.append(_publish(part))
    return closed


def _publish(part: Path) -> Path:
    """The open `.part` file renamed to its closed name, atomically: readers take only closed files."""
    return part.rename(part.with_name(part.name.removesuffix(OPEN_SUFFIX) + CLOSED_SUFFIX))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
