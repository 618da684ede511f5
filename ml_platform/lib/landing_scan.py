"""Which dropped files are new since a sensor's last tick, opening (hashing) only those.

Landed and scoring files are named by people, so names do not sort by arrival: the listing is filtered by
arrival stamp against a high-water mark (`high_water.Mark`), and only files the mark has not seen are
hashed. Which contents were seen before under another name is not kept here but asked of the Dagster
instance per new file (runs carry the content hash as a tag), so the cursor stays the same size
however many files have landed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from upath import UPath

from ml_platform.lib.high_water import Mark
from ml_platform.lib.landing import READERS, file_sha256
from ml_platform.lib.storage import files_changed_since, stamp_of

DEFAULT_MARGIN_SECONDS = 900.0  # an S3 multipart upload is stamped when it began; a landing may take minutes


@dataclass
class LandingState:
    """The cursor: the mark, and contents requested but not settled yet (sha256 -> [name, stamp_ns]),
    looked at again on every tick; bounded by work in flight, not by history."""

    mark: Mark = field(default_factory=Mark)
    pending: dict[str, list] = field(default_factory=dict)

    @classmethod
    def parse(cls, cursor: str | None) -> LandingState:
        data = json.loads(cursor) if cursor else {}
        if "mark" not in data:  # no cursor, or one from before marks: every file is examined once more
            return cls()
        return cls(Mark.parse(data["mark"]), data.get("pending", {}))

    def dump(self) -> str:
        return json.dumps({"mark": self.mark.dump(), "pending": self.pending}, sort_keys=True)

    def still_pending(self, folder: UPath) -> dict[str, list]:
        """Pending contents whose file is still there, unchanged (one stat each)."""
        return {sha256: [name, stamp] for sha256, (name, stamp) in self.pending.items()
                if stamp_of(folder / name) == stamp}


@dataclass(frozen=True)
class Landed:
    path: UPath
    sha256: str
    stamp_ns: int = 0

    @property
    def key(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Scan:
    new: list[Landed]  # files the mark had not seen, hashed, in name order
    listed: int  # entries the listing returned (what a tick looked at)
    state: LandingState


def scan(folder: UPath, pattern: str, state: LandingState, margin_seconds: float = DEFAULT_MARGIN_SECONDS,
         now_ns: int | None = None) -> Scan:
    """The files that arrived or changed since the mark, hashed; the state's mark moved past them."""
    listed_at = time.time_ns() if now_ns is None else now_ns
    listed = [item for item in files_changed_since(folder, state.mark.since_ns, pattern)
              if item.path.suffix in READERS]
    new = [Landed(item.path, file_sha256(item.path), item.stamp_ns) for item in state.mark.unseen(listed)]
    state.mark = state.mark.advanced(listed, listed_at, int(margin_seconds * 1e9))
    return Scan(new, len(listed), state)
