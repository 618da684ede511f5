"""The inference log: the contract between the service (many writers) and the closed loop (its readers).

Layout: `<storage root>/inference_log`, shared by every replica and worker. Each writer appends to files
only it owns, `<stem>.jsonl.part`, and closes a file by renaming it to `<stem>.jsonl` (atomic). On an
object store (s3://) the `.part` files stay in the writer's local spool (`ML_PLATFORM_LOG_SPOOL`, an
emptyDir of the pod) and each closed file is uploaded whole as `<root>/inference_log/<stem>.jsonl`, one
PUT, so readers there only ever see whole closed files (`inference_log_upload.py`). A stem names its
owner uniquely across hosts:

    inference-<UTC yyyymmddThhmmss.ffffff>-<pid>-<process start ticks>-<random hex>-<host>

The reader takes only closed files, and moves each one it has consumed into `consumed/`, so no order
of closing can make it skip one. Two readers consuming at once are safe: a file the other moved away is
skipped, and a file's batch is only created where none exists, so each lands once. Each line is one record:

    {"record_id": str, "request_id": str, "timestamp": ISO-8601 UTC, "model_version": str,
     "inputs": {feature: value, ...}, "prediction": str, "probabilities": {class: float, ...}}

`inputs` holds the request's fields and the derived features the service computed from them (null
where a derivation has no value), so what the model saw can be checked against the `features` asset.

`record_id` is made by the server and unique per record (`<server request id>-<index in request>`):
it is the id a label names. `request_id` is the caller's `X-Request-ID` (or the server's id when none
was sent), kept for tracing and never trusted to be unique. Optional fields: `data_version` and
`model_sha256` (the registry's hash of its artifact: with the version, the model's identity) of the
model that answered, `latency_ms` (from the request reaching the service to its answer being ready:
queueing, features and the model call), `host` of the writer, and in shadow or canary mode `"shadow": {"model_version",
"model_sha256", "prediction", "probabilities"}`: the answer of the model that did not answer the client. On a canary
record the challenger answered (`model_version` is its version, `"answered_by": "challenger"`) and the
shadow is the champion; `"challenger_failed": true` marks a canary record the champion answered because
the challenger failed (`canary.py`). A line without its final newline is a write cut short by a crash:
readers ignore it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from upath import UPath

from ml_platform.lib.storage import files_in, is_remote, modified_at, storage_path

OPEN_SUFFIX = ".jsonl.part"
CLOSED_SUFFIX = ".jsonl"
CONSUMED_DIR = "consumed"
FIELDS = ["record_id", "request_id", "timestamp", "model_version", "inputs", "prediction", "probabilities"]
_STEM = re.compile(r"^inference-\d{8}T\d{6}\.\d{6}-(?P<pid>\d+)-(?P<start>\d+)-(?P<token>[0-9a-f]+)-(?P<host>.+)$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Owner:
    """One writer: the host (pod name in Kubernetes), the process and its start time, a random token."""

    host: str
    pid: int
    start: int
    token: str

    @classmethod
    def me(cls) -> Owner:
        host = _UNSAFE.sub("_", os.environ.get("HOSTNAME") or socket.gethostname())[:63] or "host"
        return cls(host, os.getpid(), process_start(os.getpid()) or 0, secrets.token_hex(4))

    def new_stem(self) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
        return f"inference-{stamp}-{self.pid}-{self.start}-{self.token}-{self.host}"


def owner_of(path: Path) -> Owner | None:
    """The owner named in a log file's stem; None for a name this layout did not make."""
    stem = path.name.removesuffix(OPEN_SUFFIX).removesuffix(CLOSED_SUFFIX)
    match = _STEM.match(stem)
    if match is None:
        return None
    return Owner(match["host"], int(match["pid"]), int(match["start"]), match["token"])


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None if no such process runs here.

    With the pid it identifies a process on one host even across pid reuse and container restarts."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def as_folder(location: str | os.PathLike) -> Path:
    """A log folder as given: a `UPath` stays one (local or s3://), a URL becomes one, a path stays a Path."""
    if isinstance(location, (UPath, Path)):
        return location
    return storage_path(location) if is_remote(location) else Path(location)


def closed_files(log_dir: str | os.PathLike) -> list[Path]:
    """Closed files not consumed yet (on an object store: one listing)."""
    return files_in(as_folder(log_dir), f"*{CLOSED_SUFFIX}")


def all_closed_files(log_dir: str | os.PathLike) -> list[Path]:
    """Closed files, consumed or not: the whole history the loop can join labels to."""
    return [*files_in(as_folder(log_dir) / CONSUMED_DIR, f"*{CLOSED_SUFFIX}"), *closed_files(log_dir)]


def closed_files_since(log_dir: str | os.PathLike, since: datetime,
                       clock_margin: timedelta = timedelta(hours=1)) -> list[Path]:
    """Closed files that may hold a record answered at or after `since`: a file's modification time is
    its last write (an object's is its upload, later still), so one last written before it holds none.
    The margin covers storage whose clock lags the caller's; callers still filter records by their own
    timestamps."""
    cutoff, recent, folder = (since - clock_margin).timestamp(), [], as_folder(log_dir)
    if is_remote(folder):  # the listing carries each object's time: no request per file of the history
        return [path for sub in (folder / CONSUMED_DIR, folder) for path, at in _listed(sub) if at >= cutoff]
    for path in all_closed_files(folder):
        try:
            if modified_at(path) >= cutoff:
                recent.append(path)
        except FileNotFoundError:  # moved to consumed/ after the listing: the next run reads it there
            continue
    return recent


def _listed(folder: UPath) -> list[tuple[UPath, float]]:
    """Closed files directly under an object-store prefix with their Last-Modified, from one listing."""
    try:
        entries = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    named = [(entry["name"].rsplit("/", 1)[-1], entry) for entry in entries if entry.get("type") == "file"]
    return sorted((folder / name, entry["LastModified"].timestamp())
                  for name, entry in named if name.endswith(CLOSED_SUFFIX))


def read_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Every whole line of a file; a final line cut short by a crash (no newline) is not a record.
    Raises FileNotFoundError if the file was moved (consumed) since it was listed."""
    path = as_folder(path)
    text = path.read_bytes().decode("utf-8")
    whole = text[: text.rfind("\n") + 1]
    records = []
    for number, line in enumerate(whole.splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path.name} line {number}: not a JSON record ({exc})") from exc
    return records


def as_frame(records: list[dict[str, Any]], feature_names: list[str]) -> pd.DataFrame:
    """Flatten records into one row per prediction: the features, then the log's own columns."""
    own = ["record_id", "request_id", "timestamp", "model_version", "prediction"]
    rows = [{**{n: r["inputs"].get(n) for n in feature_names}, **{c: r.get(c) for c in own}} for r in records]
    return pd.DataFrame(rows, columns=[*feature_names, *own])
