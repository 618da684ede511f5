"""The labelled-prediction store, fed by the real consumer in rounds of log files and late labels: the
window live_performance reads equals a brute-force join of the raw records, the decision's running counts
equal a from-scratch computation, and each run reads only the store files that arrived since the last."""

import json
import math
import random
import sys
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from ml_platform.lib.decision_counts import update
from ml_platform.lib.inference_batches import consume
from ml_platform.lib.inference_log import CLOSED_SUFFIX, all_closed_files, read_records
from ml_platform.lib.label_feed import LabelFeed
from ml_platform.lib.labels import read_labels
from ml_platform.lib.live_comparison import from_log, p99, paired
from ml_platform.lib.live_performance import labelled_predictions, window_metrics
from ml_platform.lib.live_window import store_window
from ml_platform.lib.prediction_store import PredictionStore
from ml_platform.lib.spec import load_spec
from ml_platform.lib.storage import ensure_folder, storage_path, write_atomic
from ml_platform_tests.conftest import DEFAULT_SPEC

START = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)


def logged(n: int, at: datetime, rng: random.Random) -> dict:
    """A shadow or canary record of champion 1 against challenger 2 (a few with the challenger failing)."""
    canary, mine, other = rng.random() < 0.3, rng.choice("ab"), rng.choice("ab")
    record = {"record_id": f"r{n}", "request_id": "x", "timestamp": at.isoformat(), "inputs": {},
              "probabilities": {}, "latency_ms": round(rng.uniform(1, 150), 2),
              "model_version": "2" if canary else "1", "prediction": mine}
    if canary:
        record["answered_by"] = "challenger"
    if rng.random() > 0.05:
        record["shadow"] = {"model_version": "1" if canary else "2", "prediction": other, "probabilities": {}}
    return record


def feed_rounds(root, rounds: int, per_file: int, seed: int = 0):
    """Each round: two log files over a few hours, labels for about half of the records so far, then the
    real consumer's tick (consume with the feed, then the join). Yields after each round."""
    rng, log_dir, labels_dir, n = random.Random(seed), root / "inference_log", root / "labels", 0
    spec, store = load_spec(DEFAULT_SPEC), PredictionStore(root / "predictions")
    ensure_folder(log_dir), ensure_folder(labels_dir)
    for round_ in range(rounds):
        for file in range(2):
            at = START + timedelta(hours=round_ * 2 + file, minutes=50)  # spans into the next hour
            records = [logged(n + i, at + timedelta(seconds=i * 1200 // per_file), rng) for i in range(per_file)]
            n += per_file
            stem = f"inference-2026030{round_ + 1}T0000{file}0.000000-1-1-ab-host"
            write_atomic(log_dir / f"{stem}{CLOSED_SUFFIX}", "".join(json.dumps(r) + "\n" for r in records).encode())
        chosen = [f"r{i},{'ab'[i * 7919 % 3 % 2]}\n" for i in range(n) if rng.random() < 0.5]  # repeats agree
        write_atomic(labels_dir / f"labels-{round_}.csv", ("record_id,label\n" + "".join(chosen)).encode())
        feed = LabelFeed.load(store, labels_dir, 3600 * 24 * 365, 0.0)
        consume(log_dir, read_labels(labels_dir), spec, root / "landing", 3600, 0.0, feed)
        feed.join_pending()
        feed.save()
        yield store, log_dir, labels_dir


def test_the_window_equals_a_brute_force_join_of_the_raw_records_after_every_round(storage_kind, storage_root):
    root = storage_path(storage_root)
    for store, log_dir, labels_dir in feed_rounds(root, rounds=3, per_file=40):
        joined, _ = labelled_predictions(log_dir, read_labels(labels_dir), [])
        for rows in (10, 60, 10_000):
            window, _ = store_window(store, rows)
            assert window_metrics(window, rows) == window_metrics(joined, rows), rows


def test_the_decision_counts_after_incremental_runs_equal_a_from_scratch_count(tmp_path):
    since, counted = START + timedelta(minutes=30), []
    for store, log_dir, labels_dir in feed_rounds(tmp_path, rounds=4, per_file=50):
        counts = update(store, "1", "2", since, 60)
        counted.append(counts.files_read)
        records = [r for path in all_closed_files(log_dir) for r in read_records(path)]
        live = from_log(records, read_labels(labels_dir).by_record, "1", "2", since, 60)
        assert (counts.records, counts.unanswered, counts.canary) == (live.records, live.unanswered, live.canary)
        reference = paired(live.champion_right, live.challenger_right, 0.05)
        assert (counts.only_champion, counts.only_challenger) == (reference.champion_only_right,
                                                                  reference.challenger_only_right)
        assert counts.both + counts.only_champion + counts.only_challenger + counts.neither == reference.labelled
        assert counts.p99() == (len(live.canary_latencies_ms), math.ceil(p99(live.canary_latencies_ms)))
    assert update(store, "1", "2", since, 60).files_read == 0, "nothing new: nothing read"
    assert update(store, "1", "3", since, 60).files_read == sum(counted), "a new challenger starts afresh"


def test_a_decision_run_opens_only_the_store_files_newer_than_its_high_water_mark(tmp_path):
    opened: list[str] = []
    sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and
                     str(args[0]).startswith(str(tmp_path / "predictions" / "date=")) else None)

    def files(store) -> set[str]:
        return {str(p) for folder in store.hour_folders() for p in folder.glob("*.parquet")}

    rounds = feed_rounds(tmp_path, rounds=3, per_file=30)
    store, *_ = next(rounds)
    update(store, "1", "2", START, 0)
    seen = files(store)
    for store, *_ in rounds:
        new, first = files(store) - seen, len(opened)
        counts = update(store, "1", "2", START, 0)
        assert sorted(opened[first:]) == sorted(new) and counts.files_read == len(new) > 0
        seen |= new


def test_the_live_window_reads_only_the_store_files_that_arrived_since_its_last_read(tmp_path):
    def files(store) -> set[str]:
        return {str(p) for folder in store.hour_folders() for p in folder.glob("*.parquet")}

    rounds = feed_rounds(tmp_path, rounds=3, per_file=30)
    store, *_ = next(rounds)
    assert 0 < store_window(store, 10)[1] <= len(files(store)), "the first read scans the hours it needs"
    before = files(store)
    for _ in rounds:
        window, opened = store_window(store, 10)
        assert opened == len(files(store) - before) > 0 and len(window) == 10
        before = files(store)
    assert store_window(store, 10)[1] == 0, "nothing new: nothing read"

