"""Served traffic lands as one batch per window: sealing is exactly once through a sealer's crash, a
copy staged by two overlapping consumers, and a file staged into a window already sealed."""

import pandas as pd
import pytest

from ml_platform.lib.served_batches import STAGING_DIR, seal, stage, staged, window_of
from ml_platform.lib.storage import files_in, storage_path

HOUR = 3600.0
NOON = 1_796_990_400.0  # 2026-12-11 12:00 UTC


def rows(record_ids: list[str]) -> bytes:
    return pd.DataFrame({"age": [30] * len(record_ids), "record_id": record_ids}).to_csv(index=False).encode()


def landed_ids(landing) -> list[str]:
    return sorted(i for path in files_in(landing, "served-*.csv") for i in pd.read_csv(path.open("rb"))["record_id"])


@pytest.mark.usefixtures("storage_kind")
def test_windows_seal_once_each_and_what_arrives_late_is_never_lost_or_doubled(storage_root):
    landing = storage_path(storage_root) / "landing"
    assert window_of(NOON + 59 * 60, 60) == "20261211T1200" and window_of(NOON + 59 * 60, 15) == "20261211T1245"
    stage(landing, "inference-a.csv", rows(["a1", "a2"]), NOON + 10, 60)
    stage(landing, "inference-b.csv", rows(["b1"]), NOON + 20, 60)
    stage(landing, "inference-c.csv", rows(["c1"]), NOON + HOUR + 5, 60)  # the next window
    stage(landing, "inference-b.csv", rows(["b1"]), NOON + HOUR + 6, 60)  # b again, by an overlapping consumer

    assert seal(landing, set(), NOON + HOUR + 60, 60) == [], "within the margin a consumer may still stage"
    assert seal(landing, {"inference-a.csv"}, NOON + HOUR + 600, 60) == [], "a's log file is not moved yet"
    [first] = seal(landing, set(), NOON + HOUR + 600, 60)
    assert (first.window, first.files, first.rows) == ("20261211T1200", 2, 3)
    assert landed_ids(landing) == ["a1", "a2", "b1"], "b's second copy was dropped, not landed"
    assert set(staged(landing)) == {"inference-c.csv"}

    # A sealer that wrote its batch and died before deleting what it sealed: the next one only deletes.
    stage(landing, "inference-a.csv", rows(["a1", "a2"]), NOON + 10, 60)
    stage(landing, "inference-b.csv", rows(["b1"]), NOON + 20, 60)
    assert seal(landing, set(), NOON + HOUR + 700, 60) == [] and set(staged(landing)) == {"inference-c.csv"}
    # One that died after writing its name list, before the batch: the next one writes that batch.
    first.landed.unlink()
    stage(landing, "inference-a.csv", rows(["a1", "a2"]), NOON + 10, 60)
    stage(landing, "inference-b.csv", rows(["b1"]), NOON + 20, 60)
    assert seal(landing, set(), NOON + HOUR + 800, 60) == [] and first.landed.exists()
    assert landed_ids(landing) == ["a1", "a2", "b1"] and set(staged(landing)) == {"inference-c.csv"}

    # A consumer stalled past the margin stages into the sealed window: it lands as a batch of its own.
    stage(landing, "inference-d.csv", rows(["d1"]), NOON + 30, 60)
    late, second = seal(landing, set(), NOON + 3 * HOUR, 60)
    assert late.window == first.window and late.landed != first.landed and second.window == "20261211T1300"
    assert landed_ids(landing) == ["a1", "a2", "b1", "c1", "d1"]
    assert files_in(landing / STAGING_DIR) == [] and len(files_in(landing, "served-*.csv")) == 3


def test_a_window_whose_files_have_different_columns_lands_their_union(tmp_path):
    stage(tmp_path, "inference-a.csv", rows(["a1"]), NOON, 60)
    stage(tmp_path, "inference-b.csv", pd.DataFrame({"age": [40], "income": [1.5], "record_id": ["b1"]})
          .to_csv(index=False).encode(), NOON, 60)
    [window] = seal(tmp_path, set(), NOON + 2 * HOUR, 60)
    landed = pd.read_csv(window.landed, dtype=str, keep_default_na=False)
    assert window.rows == 2 and list(landed.columns) == ["age", "record_id", "income"]
    assert landed.to_dict("records") == [{"age": "30", "record_id": "a1", "income": ""},
                                         {"age": "40", "record_id": "b1", "income": "1.5"}]
