"""Landed batch files: reading them safely and landing generated ones."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ml_platform.lib.generator import Knobs, generate
from ml_platform.lib.spec import DatasetSpec, GeneratorSource
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


def batch_path(folder: Path, key: str, suffix: str = "") -> Path:
    """Where batch `key` lives in `folder` (its landed file, its report): always directly inside `folder`."""
    return folder / (check_batch_key(key) + suffix)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_batch(path: Path, spec: DatasetSpec) -> pd.DataFrame:
    """Read one landed file; CSV cells stay text so that a bad value reaches quarantine as it was."""
    if not path.exists():
        raise BatchError(f"{path}: no such landed file")
    size = path.stat().st_size
    if size > spec.max_file_bytes:
        raise BatchError(f"{path.name}: {size} bytes is over the limit of {spec.max_file_bytes} bytes")
    if path.suffix not in READERS:
        raise BatchError(f"{path.name}: unsupported file type {path.suffix!r}; use .csv or .parquet")
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, encoding="utf-8", skipinitialspace=True,
                                sep=_delimiter(path))
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


def _delimiter(path: Path) -> str:
    """The header's delimiter among , ; tab and |, so a semicolon-separated export is read as meant."""
    with path.open("rb") as f:
        header = f.readline().decode("utf-8")
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def landed_files(landing_dir: Path, pattern: str = "*") -> list[Path]:
    """Landed batch files in name order (names start with a sortable sequence or timestamp)."""
    if not landing_dir.exists():
        return []
    return sorted(p for p in landing_dir.glob(pattern) if p.is_file() and p.suffix in READERS)


def land_generated(spec: DatasetSpec, landing_dir: Path, index: int, knobs: Knobs | None = None,
                   rows: int | None = None, seed: int | None = None) -> Path:
    """Write one generated batch as `batch-<index>.csv`; the spec's corruption share applies by default."""
    if not isinstance(spec.source, GeneratorSource):
        raise ValueError(f"dataset {spec.name!r} is not generated; land its files in {landing_dir}")
    source = spec.source
    knobs = knobs or Knobs(corrupt_share=source.corrupt_share)
    frame = generate(source.generator, rows or source.rows_per_batch,
                     source.seed + index if seed is None else seed, knobs)
    landing_dir.mkdir(parents=True, exist_ok=True)
    path = landing_dir / f"batch-{index:05d}.csv"
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.rename(path)
    return path
