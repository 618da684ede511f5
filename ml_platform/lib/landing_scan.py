"""Which landed files are new, by content: a file seen before under another name is a copy, not a batch.

The scan remembers each file's size, mtime and hash, so a file is hashed once, not on every tick.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from upath import UPath

from ml_platform.lib.landing import file_sha256


@dataclass
class LandingState:
    """The sensor's cursor: every file seen (name -> [size, mtime_ns, sha256]), every hash's first name,
    and the contents requested but not yet ingested (sha256 -> name), looked at again on every tick."""

    files: dict[str, list] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, cursor: str | None) -> LandingState:
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps({"files": self.files, "hashes": self.hashes, "pending": self.pending}, sort_keys=True)


@dataclass(frozen=True)
class Landed:
    path: UPath
    sha256: str

    @property
    def key(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Scan:
    new: list[Landed]
    copies: dict[str, str]
    state: LandingState


def scan(files: list[UPath], state: LandingState) -> Scan:
    """New content in name order; `copies` maps a file to the earlier file with the same bytes."""
    new, copies = [], {}
    for path in files:
        stat = path.stat()
        seen = state.files.get(path.name)
        if seen and seen[:2] == [stat.st_size, stat.st_mtime_ns]:
            continue
        digest = file_sha256(path)
        state.files[path.name] = [stat.st_size, stat.st_mtime_ns, digest]
        original = state.hashes.get(digest)
        if original is not None and original != path.name:
            copies[path.name] = original
            continue
        if original is None:
            state.hashes[digest] = path.name
        new.append(Landed(path, digest))
    return Scan(new, copies, state)
