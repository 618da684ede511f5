"""Listing with sizes and times in one request, and deleting, on a folder or an object store.

`storage.files_in` then `storage.modified_at` per file would be one HEAD request per object on S3,
for every file a daily sweep looks at; the listing already carries Last-Modified and the size.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from upath import UPath
from upath._stat import UPathStatResult

from ml_platform.lib.storage import files_in, is_remote


@dataclass(frozen=True)
class Listed:
    path: UPath
    modified: float  # seconds since the epoch of the last write (an object's Last-Modified)
    size: int


def listed(folder: UPath, pattern: str = "*") -> list[Listed]:
    """Files directly in `folder` matching `pattern`, sorted by name; [] when the folder does not exist."""
    if not is_remote(folder):
        found = []
        for path in files_in(folder, pattern):
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # moved or removed after the listing
                continue
            found.append(Listed(path, stat.st_mtime, stat.st_size))
        return found
    try:
        entries = folder.fs.ls(folder.path, detail=True)
    except FileNotFoundError:
        return []
    found, own = [], folder.path.rstrip("/")
    for entry in entries:
        name = entry["name"].rsplit("/", 1)[-1]
        if entry["name"].rstrip("/") == own:  # an emptied prefix may list itself as a zero-byte marker
            continue
        if entry.get("type") == "file" and fnmatch.fnmatchcase(name, pattern):
            stat = UPathStatResult.from_info(entry)  # what `modified_at` reads, from the same listing
            found.append(Listed(folder / name, stat.st_mtime, int(entry.get("size") or 0)))
    return sorted(found, key=lambda f: f.path.name)


def listed_tree(folder: UPath) -> list[Listed]:
    """Every file under `folder`, at any depth, with its time and size from one listing."""
    if not is_remote(folder):
        found = []
        for parent, _, names in os.walk(folder):
            for name in names:
                try:
                    stat = os.stat(os.path.join(parent, name))
                except FileNotFoundError:
                    continue
                found.append(Listed(UPath(parent) / name, stat.st_mtime, stat.st_size))
        return sorted(found, key=lambda f: str(f.path))
    try:
        entries = folder.fs.find(folder.path, detail=True)
    except FileNotFoundError:
        return []
    return sorted((Listed(UPath(f"{folder.protocol}://{name}", **folder.storage_options),
                          UPathStatResult.from_info(entry).st_mtime, int(entry.get("size") or 0))
                   for name, entry in entries.items() if entry.get("type") == "file"), key=lambda f: str(f.path))


def subfolders(folder: UPath) -> list[UPath]:
    """The folders directly in `folder` (on an object store: the common prefixes); [] when it does not exist."""
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.name)
    except FileNotFoundError:
        return []


def remove_empty_folders(folder: UPath) -> None:
    """A local folder's empty subfolders and itself, once its files are gone (an object store has none)."""
    if is_remote(folder) or not folder.exists():
        return
    for parent, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(parent)
        except OSError:  # not empty: a file was kept
            pass


def remove(path: UPath) -> bool:
    """Delete one file; False if it was already gone (another sweep, a consumer moving it)."""
    try:
        if is_remote(path):
            path.fs.rm_file(path.path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False
    return True
