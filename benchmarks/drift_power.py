"""The evidence behind the shipped `drift_p_value`: per-column detection and false positives on many batches.

`benchmarks/drift.py` runs Evidently on every column of every batch, seconds each, so its cells have few
batches. Here Evidently sees only the shifted column (its per-column test reads nothing else, so the flag
is the same) and ours is judged at 0.01 and 0.05 from one set of p-values, so hundreds of batches fit in
minutes. Run: `PYTHONPATH=. .venv/bin/python benchmarks/drift_power.py --n 1000 --seeds 200`, and
`--fpr` for our batch false-positive rate on no-shift batches.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from benchmarks.drift import Reference
from benchmarks.drift_report import flagged
from benchmarks.drift_scenarios import NO_SHIFT, SCENARIOS, bench_spec, frame
from ml_platform.lib.spec import DatasetSpec

P_VALUES = (0.01, 0.05)


def evidently_flags(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, column: str) -> bool:
    """Evidently's DataDriftPreset on the one column: its own per-column drift flag."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = column in spec.numeric_features
    definition = DataDefinition(numerical_columns=[column] if numeric else [],
                                categorical_columns=[] if numeric else [column])

    def as_dataset(data: pd.DataFrame) -> Dataset:
        return Dataset.from_pandas(data[[column]].reset_index(drop=True), data_definition=definition)

    for metric in Report([DataDriftPreset()]).run(as_dataset(current), as_dataset(reference)).dict()["metrics"]:
        config = metric["config"]
        if config.get("column") == column:
            value, threshold = metric["value"], config["threshold"]
            return value < threshold if "p_value" in config["method"] else value >= threshold
    raise LookupError(f"Evidently reported no drift test for {column}")


def detection(reference: Reference, n: int, seeds: int, names: list[str]) -> None:
    """Per scenario: how often each tool flags the shifted column, on the same seeded batches as drift.py."""
    min_effect = reference.spec.thresholds.drift_min_effect
    for name in names:
        make, column = SCENARIOS[name]
        ours, ev = [], []
        for seed in range(seeds):
            current = make(n, 1 + seed)
            decision = reference.ours(current)
            ours.append([flagged(decision, column, p, min_effect)[0] for p in P_VALUES])
            ev.append(evidently_flags(reference.train, current, reference.spec, column))
        rates = np.mean(ours, axis=0)
        print(f"| {name} | {n:,} | {seeds} | " + " | ".join(f"{r:.3f}" for r in rates) + f" | {np.mean(ev):.3f} |",
              flush=True)


def false_positives(reference: Reference, n: int, seeds: int) -> None:
    """Our batch decision on no-shift batches (seeds as drift.py's false-positive rows), at each p-value."""
    min_effect = reference.spec.thresholds.drift_min_effect
    decisions = [reference.ours(frame(n, 1_000 + seed)) for seed in range(seeds)]
    hits = [sum(flagged(d, None, p, min_effect)[1] for d in decisions) for p in P_VALUES]
    print(f"| no shift, batch flagged | {n:,} | {seeds} | " + " | ".join(
        f"{h / seeds:.3f} ({h})" for h in hits) + " | |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000, help="rows per batch")
    parser.add_argument("--seeds", type=int, default=200, help="batches per scenario")
    parser.add_argument("--scenarios", nargs="+", help="scenario names (default: every shift with a column)")
    parser.add_argument("--fpr", action="store_true", help="our false-positive rate instead")
    args = parser.parse_args()
    reference = Reference(bench_spec())
    print("| scenario | n | batches | ours, p 0.01 | ours, p 0.05 | Evidently |\n|---|---:|---:|---:|---:|---:|")
    if args.fpr:
        false_positives(reference, args.n, args.seeds)
    else:
        names = args.scenarios or [k for k, (_, column) in SCENARIOS.items() if column and k not in NO_SHIFT]
        detection(reference, args.n, args.seeds, names)


if __name__ == "__main__":
    main()
