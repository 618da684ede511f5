"""One storage root for everything the platform keeps: a local folder, or an object store in production.

`ML_PLATFORM_STORAGE` is either a path (the embedded default, `data/` under the repo) or a URL such as
`s3://bucket/prefix` on any S3-compatible service; endpoint and credentials come from the standard
`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (or the pod's workload identity).
Everything lives under it: asset values, the landing, labels and scoring drop zones, the inference log,
reports and MLflow's artifacts. Paths are `UPath`s, so the code reads like pathlib on both; the few
operations whose guarantees differ between a POSIX folder and an object store live here:

- a whole object appears at once on S3 (a PUT is atomic), so `write_atomic` writes there directly and
  goes through a temporary name and a rename only on a folder;
- `write_new` creates only if absent (S3 `If-None-Match: *`, a hard link on a folder), so two writers
  of the same name cannot both win;
- `move` is copy-then-delete on S3, not atomic: a caller that loses a race to move the same object sees
  False, never an exception, and must be idempotent about what it did before moving.
"""

from __future__ import annotations

import fnmatch
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fsspec
from upath import UPath

# A process that lives for days (the code server's sensors, a Bento) must see objects other processes
# wrote since its last listing: s3fs caches listings by default.
fsspec.config.conf.setdefault("s3", {})["use_listings_cache"] = False

STORAGE_ENV = "ML_PLATFORM_STORAGE"
LOCAL_PROTOCOLS = ("", "file", "local")


def storage_path(location: str | os.PathLike) -> UPath:
    """A path or URL as a UPath; a local path is made absolute, so every process agrees on it."""
    if isinstance(location, UPath):
        return location if is_remote(location) else UPath(Path(location).resolve())
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return UPath(text.rstrip("/"))
    return UPath(Path(text.removeprefix("file://")).resolve())


def is_remote(path: str | os.PathLike) -> bool:
    if isinstance(path, UPath):
        return path.protocol not in LOCAL_PROTOCOLS
    text = os.fspath(path)
    return "://" in text and not text.startswith("file://")


def as_uri(path: UPath) -> str:
    """The URL other tools (MLflow, pandas, BentoML) accept: `s3://...` or `file:///...`."""
    return str(path) if is_remote(path) else Path(path).as_uri()


def ensure_folder(path: UPath) -> UPath:
    """Create a local folder; on an object store folders are only key prefixes, so there is nothing to do."""
    if not is_remote(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


def write_atomic(path: UPath, data: bytes) -> None:
    """Readers see the old object or the whole new one, never a part."""
    if is_remote(path):
        path.fs.pipe_file(path.path, data)
        return
    ensure_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_new(path: UPath, data: bytes) -> bool:
    """Create `path` with `data` unless it exists; True if this call created it. Exactly one of any number
    of concurrent writers of the same name wins, on a folder and on an object store."""
    if is_remote(path):
        try:
            path.fs.pipe_file(path.path, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:  # S3 answers 412 Precondition Failed, which s3fs raises as EINVAL
            if "pre-condition" in str(exc).lower() or "precondition" in str(exc).lower():
                return False
            raise
        return True
    ensure_folder(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


def move(source: UPath, target: UPath) -> bool:
    """Move one file; False if `source` is gone (another process moved it first)."""
    try:
        if is_remote(source):
            source.fs.copy(source.path, target.path)
            source.fs.rm_file(source.path)
        else:
            ensure_folder(target.parent)
            os.replace(source, target)
    except FileNotFoundError:
        return False
    return True


def files_in(folder: UPath, pattern: str = "*") -> list[UPath]:
    """Files directly in `folder` matching `pattern`, sorted by name; [] when the folder does not exist.
    On an object store this is one listing, not a request per file."""
    if not is_remote(folder):
        return sorted(p for p in folder.glob(pattern) if p.is_file()) if folder.is_dir() else []
    try:
        listing = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    names = [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in listing
             if entry.get("type") == "file" and not entry["name"].endswith("/")]  # "folder/" markers are no files
    return sorted(folder / name for name in names if name and fnmatch.fnmatchcase(name, pattern))


@dataclass(frozen=True)
class Listed:
    """One file as a listing saw it: a sensor decides from this alone whether to open the file."""

    path: UPath
    stamp_ns: int  # when it appeared or last changed (see `files_changed_since`)
    size: int


def files_changed_since(folder: UPath, since_ns: int, pattern: str = "*") -> list[Listed]:
    """Files in `folder` matching `pattern` that appeared or changed at or after `since_ns`, by name.

    For user-named files, whose names do not sort by arrival. The stamp is a folder's ctime (set by the
    kernel on a write and on the rename that lands a file, so a file moved in with an old mtime counts
    as new) or an object's Last-Modified. Only what is returned gets opened; the listing itself still
    walks the folder's metadata (a stat per entry; one S3 request per 1,000 keys)."""
    if not is_remote(folder):
        if not folder.is_dir():
            return []
        found = []
        with os.scandir(folder) as entries:
            for entry in entries:
                if not fnmatch.fnmatchcase(entry.name, pattern) or not entry.is_file():
                    continue
                stat = entry.stat()
                stamp = max(stat.st_mtime_ns, stat.st_ctime_ns)
                if stamp >= since_ns:
                    found.append(Listed(folder / entry.name, stamp, stat.st_size))
        return sorted(found, key=lambda item: item.path.name)
    try:
        listing = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    found = []
    for entry in listing:
        name = entry["name"].rsplit("/", 1)[-1]
        if entry.get("type") != "file" or not fnmatch.fnmatchcase(name, pattern):
            continue
        stamp = int(entry["LastModified"].timestamp() * 1e9)
        if stamp >= since_ns:
            found.append(Listed(folder / name, stamp, int(entry.get("size") or 0)))
    return sorted(found, key=lambda item: item.path.name)


def stamp_of(path: UPath) -> int | None:
    """The stamp `files_changed_since` would list `path` with; None if it is gone."""
    try:
        if is_remote(path):
            return int(path.fs.info(path.path)["LastModified"].timestamp() * 1e9)
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return max(stat.st_mtime_ns, stat.st_ctime_ns)


def files_after(folder: UPath, start_after: str, pattern: str = "*") -> list[UPath]:
    """Files in `folder` matching `pattern` whose names sort after `start_after`, by name.

    For names that sort by arrival (log files named by time): on S3 one ListObjectsV2 with StartAfter,
    so only keys after the mark are listed at all; on a folder, names only (no stat, no open)."""
    if not is_remote(folder):
        if not folder.is_dir():
            return []
        with os.scandir(folder) as entries:
            names = [e.name for e in entries if e.name > start_after and fnmatch.fnmatchcase(e.name, pattern)
                     and e.is_file()]
        return [folder / name for name in sorted(names)]
    bucket, prefix, _ = folder.fs.split_path(folder.path)
    prefix = f"{prefix.rstrip('/')}/" if prefix else ""
    request = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "StartAfter": prefix + start_after}
    names = []
    while True:
        page = folder.fs.call_s3("list_objects_v2", **request)
        names += [item["Key"][len(prefix):] for item in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            break
        request = {**request, "ContinuationToken": page["NextContinuationToken"]}
    return [folder / name for name in sorted(names) if fnmatch.fnmatchcase(name, pattern)]


def modified_at(path: UPath) -> float:
    """Seconds since the epoch of the last write (an object's Last-Modified on S3)."""
    return path.stat().st_mtime


@contextmanager
def local_copy(path: UPath, suffix: str = "") -> Iterator[Path]:
    """A local file holding `path`'s bytes, for libraries that only read real files."""
    if not is_remote(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="ml_platform-") as folder:
        local = Path(folder, path.name + suffix)
        local.write_bytes(path.read_bytes())
        yield local
