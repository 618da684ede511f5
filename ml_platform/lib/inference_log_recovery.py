"""Closing log files whose writer is gone, exactly once, however many processes look at once.

A `.part` file is left behind when its writer dies (SIGKILL, OOM, a node lost). Its owner's host can
tell at once that the owner is gone (that pid no longer runs with that start time); anyone else waits
until the file's lease expires: a live writer touches its open file at least every `lease/4` seconds,
so a file untouched for a whole lease belongs to nobody. Recovery is a single rename to the closed
name: of several processes recovering one file, exactly one rename succeeds. A cut-off last line is
left in place; readers ignore a line without its newline.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from ml_platform.lib.inference_log import CLOSED_SUFFIX, OPEN_SUFFIX, Owner, as_folder, owner_of, process_start
from ml_platform.lib.storage import is_remote, modified_at, write_atomic

logger = logging.getLogger(__name__)


def publish(part: Path) -> Path | None:
    """Close a `.part` file by renaming it; None when another process closed it first."""
    closed = part.with_name(part.name.removesuffix(OPEN_SUFFIX) + CLOSED_SUFFIX)
    try:
        part.rename(closed)
    except FileNotFoundError:
        return None
    return closed


def folder_now(log_dir: Path) -> float:
    """The shared folder's own clock (a fresh file's mtime; an object store's own Last-Modified), so hosts
    with skewed clocks agree on leases and on how long a file has waited."""
    probe = as_folder(log_dir) / f".clock-{secrets.token_hex(6)}"
    write_atomic(probe, b"")
    try:
        return modified_at(probe)
    finally:
        probe.unlink(missing_ok=True)


def owner_gone(owner: Owner | None, me: Owner | None) -> bool:
    """True only when certain: the owner ran on this host and that process no longer runs."""
    if owner is None or me is None or owner.host != me.host or owner == me:
        return False
    return process_start(owner.pid) != owner.start


def recover(log_dir: Path, lease_seconds: float, me: Owner | None = None,
            keep: frozenset[Path] = frozenset()) -> list[Path]:
    """Close every `.part` file whose owner is gone or whose lease expired; returns what this call closed.

    `me` is the calling writer (None for a reader, which only ever waits for leases); `keep` are
    files the caller still owns. On an object store there is nothing to close: writers keep their open
    files in a local spool and upload only closed ones (`inference_log_upload.py`)."""
    log_dir = as_folder(log_dir)
    if is_remote(log_dir):
        return []
    parts = [p for p in sorted(log_dir.glob(f"*{OPEN_SUFFIX}")) if p not in keep]
    if not parts:
        return []
    now = folder_now(log_dir)
    closed = []
    for part in parts:
        try:
            idle = now - part.stat().st_mtime
        except FileNotFoundError:
            continue
        if owner_gone(owner_of(part), me) or idle >= lease_seconds:
            if (done := publish(part)) is not None:
                logger.warning(f"inference log: closed {part.name}, left open by a writer that is gone "
                               f"(idle {idle:.0f} s)")
                closed.append(done)
    return closed


def touch(path: Path) -> None:
    """Renew a lease."""
    os.utime(path)
