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
