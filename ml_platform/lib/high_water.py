"""A sensor's memory of a folder as a high-water mark: its size does not grow with the folder's history.

A file can become visible a while after the time it is stamped with (an upload's Last-Modified is when it
began; clocks differ), so the mark is not simply the newest stamp seen. `since_ns` is a time at least
`margin` before the last listing: every file stamped before it had become visible by then and was seen.
Files stamped at or after it are remembered by name (with their stamp, so a rewrite counts as new), a
set bounded by what arrives within one margin; past `cap` names the oldest are forgotten, which costs
re-examining them (callers dedup by content hash in the Dagster instance), never missing one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ml_platform.lib.storage import Listed

RECENT_CAP = 500


@dataclass
class Mark:
    since_ns: int = 0
    recent: dict[str, int] = field(default_factory=dict)  # name -> stamp, for stamps >= since_ns

    @classmethod
    def parse(cls, data: dict | None) -> Mark:
        return cls(int(data["since_ns"]), dict(data["recent"])) if data else cls()

    def dump(self) -> dict:
        return {"since_ns": self.since_ns, "recent": dict(sorted(self.recent.items()))}

    def unseen(self, listed: Iterable[Listed]) -> list[Listed]:
        """What this mark has not seen: stamped at or after it, and not remembered with that stamp."""
        return [item for item in listed if item.stamp_ns >= self.since_ns
                and self.recent.get(item.path.name) != item.stamp_ns]

    def advanced(self, listed: Iterable[Listed], listed_at_ns: int, margin_ns: int, cap: int = RECENT_CAP) -> Mark:
        """The mark after a listing (started at `listed_at_ns`) of everything stamped at or after this one."""
        since = max(self.since_ns, listed_at_ns - margin_ns)
        recent = {**self.recent, **{item.path.name: item.stamp_ns for item in listed}}
        kept = sorted(((stamp, name) for name, stamp in recent.items() if stamp >= since), reverse=True)[:cap]
        return Mark(since, {name: stamp for stamp, name in kept})
