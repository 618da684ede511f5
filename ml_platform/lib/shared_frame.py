"""A training frame written once as one `.npy` file per column and memory-mapped by every fit process.

Parallel fits must not each hold a copy of the training rows: the search's worker processes map the same
files, so the pages are shared through the page cache whatever the number of workers. Plain numpy
arrays (`allow_pickle=False`) and a JSON list of each categorical column's categories: nothing in the
folder can run code when it is read. Strings become categoricals (codes plus categories), the compact
form scikit-learn's encoders take as they take strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

LAYOUT = "columns.json"


def write_columns(frame: pd.DataFrame, folder: Path) -> Path:
    """Write `frame`'s columns under `folder` (created); returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    layout = []
    for position, name in enumerate(frame.columns):
        column = frame[name]
        if not (isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(column.dtype)):
            column = column.astype("category")
        entry = {"name": str(name), "file": f"{position}.npy"}
        if isinstance(column.dtype, pd.CategoricalDtype):
            entry["categories"] = column.cat.categories.tolist()
            values = column.cat.codes.to_numpy()
        else:
            values = column.to_numpy()
        np.save(folder / entry["file"], values, allow_pickle=False)
        layout.append(entry)
    (folder / LAYOUT).write_text(json.dumps(layout))
    return folder


def read_columns(folder: Path) -> pd.DataFrame:
    """The frame, each column a read-only memory map of its file (categoricals rebuilt around their codes)."""
    columns = {}
    for entry in json.loads((folder / LAYOUT).read_text()):
        values = np.load(folder / entry["file"], mmap_mode="r", allow_pickle=False)
        if "categories" in entry:
            dtype = pd.CategoricalDtype(entry["categories"])
            columns[entry["name"]] = pd.Categorical.from_codes(values, dtype=dtype, validate=False)
        else:
            columns[entry["name"]] = values
    return pd.DataFrame(columns, copy=False)
