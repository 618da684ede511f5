"""Altering a stored model's bytes for a test, and putting them back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def tampered(path: Path) -> Iterator[None]:
    """Flip 64 bytes in the middle of a model file, then put them back."""
    original = path.read_bytes()
    middle = len(original) // 2
    path.write_bytes(original[:middle] + bytes(b ^ 0xFF for b in original[middle:middle + 64]) + original[middle + 64:])
    try:
        yield
    finally:
        path.write_bytes(original)
