"""Metadata that does not grow with history: a list or mapping becomes its newest entries, a count and a hash.

Every materialization's metadata is stored in the instance's event log and sent to the UI; a list
that gains an entry per batch makes each event bigger than the last, forever. The newest `keep`
entries say what a person looks for, the count says how many there were, and the hash tells two
materializations with the same entries apart from two that only share a tail.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

TAIL = 20


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def bounded_list(name: str, items: list[Any], keep: int = TAIL) -> dict[str, Any]:
    """`{name: the last `keep` items, name_count: how many, name_sha256: a hash of all of them}`."""
    return {name: list(items[-keep:]), f"{name}_count": len(items), f"{name}_sha256": _digest(list(items))}


def bounded_dict(name: str, entries: dict[str, Any], keep: int = TAIL, total: int | None = None) -> dict[str, Any]:
    """The same for a mapping, keeping its last `keep` entries in insertion order; `total` counts entries
    the caller has already let go of (so the hash covers what it still holds)."""
    kept = dict(list(entries.items())[-keep:])
    return {name: kept, f"{name}_count": len(entries) if total is None else total, f"{name}_sha256": _digest(entries)}
