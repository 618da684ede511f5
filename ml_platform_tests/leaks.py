"""No process a test starts may outlive the suite.

Every process started during a test session inherits `ML_PLATFORM_TEST_SESSION=<token>` from the
environment; at the end of the session the processes still carrying it are found in /proc. A server
whose workers escaped a kill (BentoML starts each worker in its own session, so signalling the
arbiter's group misses them) shows up here instead of answering on 127.0.0.1 an hour later.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

import psutil

MARKER = "ML_PLATFORM_TEST_SESSION"
# The interpreter's own helpers live as long as it does and die with it: not leaks.
OWN_HELPERS = ("resource_tracker", "loky", "joblib", "multiprocessing.forkserver")


def mark_session() -> str:
    """A fresh token in this process's environment, inherited by everything it starts from now on."""
    token = secrets.token_hex(8)
    os.environ[MARKER] = token
    return token


def _carries(pid: int, needle: bytes) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:  # gone, or a zombie
        return False


def survivors(token: str) -> list[psutil.Process]:
    """Processes started in this session that still run, except this one and its own helpers."""
    needle, me = f"{MARKER}={token}".encode(), os.getpid()
    found = []
    for process in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
        info = process.info
        if info["pid"] == me or info["status"] == psutil.STATUS_ZOMBIE or not _carries(info["pid"], needle):
            continue
        helper = info["ppid"] == me and any(h in " ".join(info["cmdline"] or []) for h in OWN_HELPERS)
        if not helper:
            found.append(process)
    return found


def kill_survivors(token: str, grace: float = 10.0) -> list[str]:
    """Waits up to `grace` s for stragglers to exit, SIGKILLs the rest; returns what had to be killed."""
    deadline = time.monotonic() + grace
    while (left := survivors(token)) and time.monotonic() < deadline:
        time.sleep(0.5)
    described = []
    for process in left:
        try:
            described.append(f"pid {process.pid} (parent {process.ppid()}): {' '.join(process.cmdline())[:160]}")
            process.kill()
        except psutil.NoSuchProcess:
            pass
    return described
