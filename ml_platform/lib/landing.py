"""Landed batch files: reading them safely and landing generated ones, in a folder or an object store."""

from __future__ import annotations

import hashlib
import io

import pandas as pd
from upath import UPath

from ml_platform.lib.generator import Knobs, generate
from ml_platform.lib.spec import DatasetSpec, GeneratorSource
from ml_platform.lib.storage import files_in, write_atomic
from ml_platform.lib.validation import BatchError

READERS = {".csv", ".parquet"}
MAX_NAME_BYTES = 255


def _key_problem(key: str) -> str | None:
    if not key:
        return "it is empty"
    if "/" in key or "\\" in key:
        return "it contains a path separator"
    if "\0" in key:
        return "it contains a NUL byte"
    if key.startswith("."):
        return "it starts with '.'"  # '.', '..' and hidden files
    if len(key.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is over {MAX_NAME_BYTES} bytes"
    return None


def check_batch_key(key: str) -> str:
    """The key itself, if it is a plain file name: a key added by hand in the UI must never become a path."""
    problem = _key_problem(key)
    if problem:
        raise BatchError(f"batch key {key!r} is not a plain file name ({problem}); refused before any read or write")
    return key


def batch_path(folder: UPath, key: str, suffix: str = "") -> UPath:
    """Where batch `key` lives in `folder` (its landed file, its report): always directly inside `folder`."""
    return folder / (check_batch_key(key) + suffix)


def file_sha256(path: UPath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_batch(path: UPath, spec: DatasetSpec) -> pd.DataFrame:
    """Read one landed file; CSV cells stay text so that a bad value reaches quarantine as it was."""
    if not path.exists():
        raise BatchError(f"{path}: no such landed file")
    size = path.stat().st_size
    if size > spec.max_file_bytes:
        raise BatchError(f"{path.name}: {size} bytes is over the limit of {spec.max_file_bytes} bytes")
    if path.suffix not in READERS:
        raise BatchError(f"{path.name}: unsupported file type {path.suffix!r}; use .csv or .parquet")
    try:
        with path.open("rb") as f:
            if path.suffix == ".parquet":
                frame = pd.read_parquet(f)
            else:
                frame = pd.read_csv(f, dtype=str, encoding="utf-8", skipinitialspace=True, sep=_delimiter(path))
    except pd.errors.EmptyDataError as exc:
        raise BatchError(f"{path.name}: the file is empty") from exc
    except UnicodeDecodeError as exc:
        raise BatchError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (pd.errors.ParserError, OSError, ValueError) as exc:
        raise BatchError(f"{path.name}: cannot be parsed: {exc}") from exc
    if frame.empty:
        raise BatchError(f"{path.name}: no data rows (columns: {list(frame.columns)})")
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise BatchError(f"{path.name}: missing required column(s) {missing}; found {list(frame.columns)}")
    return frame


def _delimiter(path: UPath) -> str:
    """The header's delimiter among , ; tab and |, so a semicolon-separated export is read as meant."""
    with path.open("rb") as f:
        header = f.readline().decode("utf-8")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def landed_files(landing_dir: UPath, pattern: str = "*") -> list[UPath]:
    """Landed batch files in name order (names start with a sortable sequence or timestamp)."""
    return [p for p in files_in(landing_dir, pattern) if p.suffix in READERS]


def land_generated(spec: DatasetSpec, landing_dir: UPath, index: int, knobs: Knobs | None = None,
                   rows: int | None = None, seed: int | None = None) -> UPath:
    """Write one generated batch as `batch-<index>.csv`; the spec's corruption share applies by default."""
    if not isinstance(spec.source, GeneratorSource):
        raise ValueError(f"dataset {spec.name!r} is not generated; land its files in {landing_dir}")
    source = spec.source
    knobs = knobs or Knobs(corrupt_share=source.corrupt_share)
    frame = generate(source.generator, rows or source.rows_per_batch,
                     source.seed + index if seed is None else seed, knobs)
    path = landing_dir / f"batch-{index:05d}.csv"
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    write_atomic(path, buffer.getvalue().encode())
    return path
