"""Our drift detector against Evidently 0.7's DataDriftPreset, on the same seeded batches, judged per column.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/drift.py` (28 minutes on 2 cores shared with other work;
Evidently's seconds per batch dominate, so `--seeds` sets the run time). Per scenario and batch size: how
often the shifted column is flagged and how often the batch is, for ours and for Evidently run three ways
(default, a drift share like ours, and given the model's predicted probabilities too); then our
false-positive rate over many no-shift batches, and both on one big batch, timed with and without
building our profile (median of 3). Prints the README's table, the full table for docs/closed_loop.md,
and whether each goal holds. `drift_power.py` measures the weak cells on hundreds of batches.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from benchmarks.drift_report import evidently_verdicts, flagged, goals, machine, markdown, readme_table
from benchmarks.drift_scenarios import NO_SHIFT, SCENARIOS, bench_spec, frame, wide_frame, wide_spec
from ml_platform.lib.drift import DriftDecision, detect_drift
from ml_platform.lib.drift_profile import build_profile, predicted_probabilities
from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.spec import DatasetSpec


def timed(fn: Callable[[], object], runs: int = 1) -> tuple[object, float]:
    """The result and the median seconds of `runs` calls."""
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return result, float(np.median(seconds))


def evidently(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec, extra: list[str],
              drift_share: float = 0.5) -> dict:
    """Evidently's DataDriftPreset on the features and the `extra` numeric columns: per-column flags and
    its own dataset verdict (at least `drift_share` of the columns drifted)."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric, columns = spec.numeric_features + extra, spec.feature_names + extra
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=spec.categorical_features)
    as_dataset = lambda f: Dataset.from_pandas(f[columns].reset_index(drop=True), data_definition=definition)  # noqa: E731
    metrics = Report([DataDriftPreset(drift_share=drift_share)]).run(
        as_dataset(current), as_dataset(reference)).dict()["metrics"]
    flags, verdict = {}, False
    for metric in metrics:
        config = metric["config"]
        if "column" in config:
            value, threshold = metric["value"], config["threshold"]
            flags[config["column"]] = value < threshold if "p_value" in config["method"] else value >= threshold
        elif "drift_share" in config:
            verdict = metric["value"]["share"] >= config["drift_share"]
    return {"columns": flags, "drift": verdict}


class Reference:
    """What the platform keeps after training: the profile and the model; Evidently gets the train rows."""

    def __init__(self, spec: DatasetSpec, rows: int = 20_000, seed: int = 10_000):
        data = frame(rows, seed)
        self.spec, self.train, held_out = spec, data.iloc[: rows * 3 // 4], data.iloc[rows * 3 // 4:]
        self.model = build_pipeline(spec, "logistic_regression", {"C": 1.0}, 0).fit(
            self.train[spec.feature_names], self.train[spec.target.name])
        self.profile, self.t_profile = timed(
            lambda: build_profile(self.train, spec, predicted_probabilities(self.model, held_out, spec)), runs=3)
        self.train_proba = self.with_proba(self.train)

    def ours(self, current: pd.DataFrame) -> DriftDecision:
        return detect_drift(self.profile, current, self.spec, predicted_probabilities(self.model, current, self.spec))

    def with_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        proba = self.model.predict_proba(data[self.spec.feature_names])
        return data.assign(**{f"proba_{c}": proba[:, i] for i, c in enumerate(self.model.classes_)})


def scenario_rows(reference: Reference, seeds: dict[int, int], alternate: float) -> list[dict]:
    """Each scenario at each n on `seeds[n]` batches; ours judged at the shipped and the `alternate` p-value.
    `ours_only` / `ev_only` count the batches where just one tool flagged the column (for a paired test)."""
    proba_columns = [c for c in reference.train_proba.columns if c.startswith("proba_")]
    limits, features = reference.spec.thresholds, reference.spec.feature_names
    rows, t_evidently = [], {}
    for name, (make, column) in SCENARIOS.items():
        for n, count in seeds.items():
            cells: dict[str, list] = {}
            for seed in range(count):
                current = make(n, 1 + seed)
                ours, t_ours = timed(lambda: reference.ours(current))
                run = evidently(reference.train_proba, reference.with_proba(current), reference.spec, proba_columns,
                                drift_share=1 / (len(features) + len(proba_columns)))
                ev = evidently_verdicts(run, features)
                ev_col = run["columns"][column] if column else run["drift"]
                shipped, other = (flagged(ours, column, p, limits.drift_min_effect)
                                  for p in (limits.drift_p_value, alternate))
                for key, value in [("ours_col", shipped[0]), ("ours", ours.drift),
                                   ("alt_col", other[0]), ("alt", other[1]), ("ev_col", ev_col),
                                   ("ours_only", shipped[0] and not ev_col), ("ev_only", ev_col and not shipped[0]),
                                   ("ev", ev["default"]), ("ev_like", ev["like_ours"]),
                                   ("ev_pred", ev["with_predictions"]), ("t_ours", t_ours)]:
                    cells.setdefault(key, []).append(value)
            if n not in t_evidently:  # its time hardly depends on the data, so it is timed once per size
                t_evidently[n] = timed(lambda: evidently(reference.train, current, reference.spec, []), runs=3)[1]
            cells["t_ev"] = [t_evidently[n]]
            summary = {"t_": np.median, "ours_only": np.sum, "ev_only": np.sum}
            rows.append({"scenario": name, "n": n, "seeds": count, **{k: float(next(
                (f for p, f in summary.items() if k.startswith(p)), np.mean)(v)) for k, v in cells.items()}})
            print(f"  {name:40s} n={n:>7,}: column ours {rows[-1]['ours_col']:.2f} "
                  f"Evidently {rows[-1]['ev_col']:.2f}", flush=True)
    return rows


def false_positive_rows(reference: Reference, seeds: dict[int, int], alternate: float) -> list[dict]:
    """Our detector alone on many no-shift batches, the batch decision at the shipped and the `alternate`
    p-value: the false-positive rate to a finer resolution."""
    rows = []
    for n, count in seeds.items():
        decisions = [reference.ours(frame(n, 1_000 + seed)) for seed in range(count)]
        rows.append({"n": n, "seeds": count, "fpr": float(np.mean([d.drift for d in decisions])), "fpr_alt": float(
            np.mean([flagged(d, None, alternate, reference.spec.thresholds.drift_min_effect)[1] for d in decisions]))})
    return rows


def big_batch_row(spec: DatasetSpec, rows: int, runs: int = 3) -> dict:
    spec = wide_spec(spec)
    reference, current = wide_frame(rows, 1), wide_frame(rows, 2, shift=0.1)
    profile, t_profile = timed(lambda: build_profile(reference, spec), runs)
    ours, t_ours = timed(lambda: detect_drift(profile, current, spec), runs)
    ev, t_ev = timed(lambda: evidently(reference, current, spec, []), runs)
    return {"rows": rows, "columns": len(spec.feature_names), "runs": runs, "t_profile": t_profile,
            "t_ours": t_ours, "t_ev": t_ev, "ours_flags": ours.drifted_columns,
            "ev_flags": sorted(k for k, v in ev["columns"].items() if v)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[12, 8, 3], help="batches per cell, one count "
                        "per size (fewer at larger n: Evidently takes seconds per batch there); 0 skips the scenarios")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="0 skips the big-batch speed test")
    parser.add_argument("--fpr-seeds", type=int, default=400, help="no-shift batches for ours alone at 1k "
                        "(half that at 10k, a tenth at 100k)")
    args = parser.parse_args()
    spec = bench_spec()
    limits = spec.thresholds
    alternate = 0.05 if limits.drift_p_value != 0.05 else 0.01
    started = time.perf_counter()
    reference = Reference(spec)
    seeds = dict(zip(args.sizes, args.seeds, strict=True))
    rows = scenario_rows(reference, seeds, alternate) if any(args.seeds) else []
    fpr_seeds = {n: max(1, args.fpr_seeds // (1 if n <= 1_000 else 2 if n <= 10_000 else 10)) for n in args.sizes}
    fpr = false_positive_rows(reference, fpr_seeds, alternate) if args.fpr_seeds else []
    big = big_batch_row(spec, args.big_rows) if args.big_rows else None
    header = (f"One run, {time.strftime('%Y-%m-%d')}, on {machine()}, a shared machine (other work ran beside it); "
              f"{time.perf_counter() - started:.0f} s in all. Ours: drift_p_value {limits.drift_p_value}, "
              f"drift_min_effect {limits.drift_min_effect} (the shipped spec); our profile of the 15,000-row "
              f"reference took {reference.t_profile:.3f} s (median of 3). Batches per cell, the same for both tools: "
              + ", ".join(f"{c} at {n // 1000}k" for n, c in seeds.items())
              + " (fewer at larger n, to bound the run: Evidently takes seconds per batch there).")
    print("\n" + header + "\n\n" + readme_table(rows, big, fpr, reference.t_profile, NO_SHIFT, alternate))
    print("\n" + goals(rows, fpr, big, NO_SHIFT, alternate))
    print("\nFull table (docs/closed_loop.md):\n\n" + markdown(rows, reference.t_profile, alternate))


if __name__ == "__main__":
    main()
