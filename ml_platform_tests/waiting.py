"""Waiting for something another process or thread will do, with a bound and a clear failure."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(condition: Callable[[], T], timeout: float = 30, what: str = "the condition") -> T:
    """The first truthy value `condition` returns; fails naming `what` if none comes within `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")
