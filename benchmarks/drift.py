"""Our drift detector against Evidently's default DataDriftPreset, on the same seeded batches.

Run: `PYTHONPATH=. .venv/bin/python benchmarks/drift.py [--seeds 20] [--big-rows 1000000]`.
Peak memory is traced (tracemalloc) in a separate call for the first seed. Prints two markdown tables: detection rate / false-positive rate / seconds / peak memory per scenario
and batch size, and the speed of both on one big batch with 11 columns.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ml_platform.lib.drift import detect_drift
from ml_platform.lib.drift_profile import build_profile, predicted_probabilities
from ml_platform.lib.generator import Knobs, customer_segmentation
from ml_platform.lib.modeling import build_pipeline
from ml_platform.lib.spec import DatasetSpec, load_spec

SPEC_PATH = Path(__file__).resolve().parent.parent / "datasets" / "customer_segmentation.yaml"


def bench_spec(min_effect: float) -> DatasetSpec:
    """The shipped spec, with `income` nullable so that a missing-rate shift reaches the detector."""
    spec = load_spec(SPEC_PATH)
    features = [f.model_copy(update={"nullable": f.name == "income"}) for f in spec.features]
    thresholds = spec.thresholds.model_copy(update={"drift_min_effect": min_effect})
    return spec.model_copy(update={"features": features, "thresholds": thresholds})


def _scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    frame["spending_score"] = (50 + factor * (frame["spending_score"] - 50)).clip(1, 100).round()
    return frame


def _reweighted(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    weights = np.where(frame["occupation"].isin(["Student", "Retired"]), 1.75, 1.0)
    return frame.sample(n, weights=weights, random_state=seed).reset_index(drop=True)


def _missing(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    frame["income"] = frame["income"].mask(np.random.default_rng(seed).random(len(frame)) < 0.10)
    return frame


Scenario = Callable[[int, int], pd.DataFrame]
SCENARIOS: dict[str, tuple[Scenario, str | None]] = {
    "no shift": (lambda n, s: customer_segmentation(n, s), None),
    "mean shift 0.1 sd": (lambda n, s: customer_segmentation(n, s, Knobs(mean_shift={"spending_score": 0.1})),
                          "spending_score"),
    "mean shift 0.25 sd": (lambda n, s: customer_segmentation(n, s, Knobs(mean_shift={"spending_score": 0.25})),
                           "spending_score"),
    "mean shift 0.5 sd": (lambda n, s: customer_segmentation(n, s, Knobs(mean_shift={"spending_score": 0.5})),
                          "spending_score"),
    "variance x1.25": (lambda n, s: _scaled(customer_segmentation(n, s), 1.25), "spending_score"),
    "category frequency": (lambda n, s: _reweighted(customer_segmentation(2 * n, s), n, s), "occupation"),
    "missing rate 0 -> 10%": (lambda n, s: _missing(customer_segmentation(n, s), s), "income (missing)"),
    "label prior": (lambda n, s: customer_segmentation(n, s, Knobs(class_balance={"luxury": 2.5, "budget": 0.5})),
                    None),
}


def measured(fn: Callable[[], object], memory: bool = True) -> tuple[object, float, int]:
    """Seconds, then (in a second call, so tracing does not slow the timed one) peak traced bytes."""
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    if not memory:
        return result, seconds, 0
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak


def evidently_run(reference: pd.DataFrame, current: pd.DataFrame, spec: DatasetSpec) -> dict:
    """Evidently's default preset; returns its dataset verdict and its per-column flags."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=spec.numeric_features, categorical_columns=spec.categorical_features)
    as_dataset = lambda f: Dataset.from_pandas(f[spec.feature_names].reset_index(drop=True), data_definition=definition)  # noqa: E731
    metrics = Report([DataDriftPreset()]).run(as_dataset(current), as_dataset(reference)).dict()["metrics"]
    flags, dataset_drift = {}, False
    for metric in metrics:
        config = metric["config"]
        if "column" in config:
            value, threshold = metric["value"], config["threshold"]
            flags[config["column"]] = value < threshold if "p_value" in config["method"] else value >= threshold
        elif "drift_share" in config:
            dataset_drift = metric["value"]["share"] >= config["drift_share"]
    return {"drift": dataset_drift, "columns": flags}


class Reference:
    """What the platform keeps after training: the profile, the model, and (for Evidently) the train rows."""

    def __init__(self, spec: DatasetSpec, rows: int = 20_000, seed: int = 10_000):
        data = customer_segmentation(rows, seed)
        self.train, held_out = data.iloc[: rows * 3 // 4], data.iloc[rows * 3 // 4:]
        self.model = build_pipeline(spec, "logistic_regression", {"C": 1.0}, 0).fit(
            self.train[spec.feature_names], self.train[spec.target.name])
        self.profile = build_profile(self.train, spec, predicted_probabilities(self.model, held_out, spec))

    def ours(self, current: pd.DataFrame, spec: DatasetSpec):
        return detect_drift(self.profile, current, spec, predicted_probabilities(self.model, current, spec))


def scenario_rows(spec: DatasetSpec, sizes: list[int], seeds: int) -> list[dict]:
    reference = Reference(spec)
    rows = []
    for name, (make, column) in SCENARIOS.items():
        for n in sizes:
            runs = max(5, seeds // 2) if n >= 100_000 else seeds
            cells = {k: [] for k in ("ours", "ours_col", "ev", "ev_col", "t_ours", "t_ev", "m_ours", "m_ev")}
            for seed in range(runs):
                current = make(n, 1 + seed)
                ours, t, mem = measured(lambda: reference.ours(current, spec), memory=seed == 0)
                cells["ours"].append(ours.drift)
                cells["ours_col"].append(column in ours.drifted_columns if column else bool(ours.drifted_columns))
                cells["t_ours"].append(t)
                cells["m_ours"].append(mem)
                ev, t, mem = measured(lambda: evidently_run(reference.train, current, spec), memory=seed == 0)
                cells["ev"].append(ev["drift"])
                flagged = ev["columns"].get(column.split(" ")[0]) if column else any(ev["columns"].values())
                cells["ev_col"].append(bool(flagged))
                cells["t_ev"].append(t)
                cells["m_ev"].append(mem)
            rows.append({"scenario": name, "n": n, "seeds": runs,
                         **{k: float(np.mean(v)) for k, v in cells.items() if not k.startswith("m_")},
                         "m_ours": max(cells["m_ours"]) / 2**20, "m_ev": max(cells["m_ev"]) / 2**20})
            print(f"  {name:22s} n={n:>7,}: ours {rows[-1]['ours']:.2f} evidently {rows[-1]['ev']:.2f}", flush=True)
    return rows


def false_positive_rows(spec: DatasetSpec, sizes: list[int], seeds: int) -> list[dict]:
    """Our detector alone on many no-shift batches: the false-positive rate to a finer resolution."""
    reference = Reference(spec)
    return [{"n": n, "seeds": seeds, "fpr": float(np.mean(
        [reference.ours(customer_segmentation(n, 1_000 + seed), spec).drift for seed in range(seeds)]))}
        for n in sizes]


def wide_frame(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """The customer data plus six more columns: 11 features, as in the measurement the issue quotes."""
    rng = np.random.default_rng(seed)
    frame = customer_segmentation(rows, seed, Knobs(mean_shift={"income": shift}))
    for i in range(4):
        frame[f"x{i}"] = rng.normal(0, 1, rows) + (shift if i == 0 else 0.0)
    for i in range(2):
        frame[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], rows)
    return frame


def wide_spec(spec: DatasetSpec) -> DatasetSpec:
    extra = [{"name": f"x{i}", "type": "numeric"} for i in range(4)]
    extra += [{"name": f"c{i}", "type": "categorical", "categories": list("abcde")} for i in range(2)]
    raw = spec.model_dump()
    raw["features"] = [*raw["features"], *extra]
    return DatasetSpec.model_validate(raw)


def big_batch_row(spec: DatasetSpec, rows: int) -> dict:
    spec = wide_spec(spec)
    reference, current = wide_frame(rows, 1), wide_frame(rows, 2, shift=0.1)
    profile, t_profile, m_profile = measured(lambda: build_profile(reference, spec))
    ours, t_ours, m_ours = measured(lambda: detect_drift(profile, current, spec))
    ev, t_ev, m_ev = measured(lambda: evidently_run(reference, current, spec))
    return {"rows": rows, "columns": len(spec.feature_names), "t_profile": t_profile, "t_ours": t_ours,
            "t_ev": t_ev, "m_profile": m_profile / 2**20, "m_ours": m_ours / 2**20, "m_ev": m_ev / 2**20,
            "ours_flags": ours.drifted_columns, "ev_flags": sorted(k for k, v in ev["columns"].items() if v)}


def markdown(rows: list[dict], big: dict | None, fpr: list[dict]) -> str:
    lines = ["| scenario | n | seeds | ours: batch flagged | Evidently default: batch flagged | ours: column | "
             "Evidently: column | ours s | Evidently s | ours peak MiB | Evidently peak MiB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"] if rows else []
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['n']:,} | {r['seeds']} | {r['ours']:.2f} | {r['ev']:.2f} | "
                     f"{r['ours_col']:.2f} | {r['ev_col']:.2f} | {r['t_ours']:.3f} | {r['t_ev']:.3f} | "
                     f"{r['m_ours']:.1f} | {r['m_ev']:.1f} |")
    if fpr:
        lines += ["", "| no shift, ours only | n | seeds | batches flagged (false positive rate) |", "|---|---:|---:|---:|"]
        lines += [f"| | {r['n']:,} | {r['seeds']} | {r['fpr']:.3f} |" for r in fpr]
    if big:
        lines += ["", "| rows x columns | reference profile (once) s | ours per batch s | Evidently default s | "
                  "speed-up | ours peak MiB | Evidently peak MiB | ours flagged | Evidently flagged |",
                  "|---|---:|---:|---:|---:|---:|---:|---|---|",
                  f"| {big['rows']:,} x {big['columns']} | {big['t_profile']:.2f} | {big['t_ours']:.2f} | "
                  f"{big['t_ev']:.1f} | {big['t_ev'] / big['t_ours']:.0f}x | {big['m_ours']:.0f} | {big['m_ev']:.0f} | "
                  f"{', '.join(big['ours_flags'])} | {', '.join(big['ev_flags'])} |"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="0 skips the big-batch speed test")
    parser.add_argument("--fpr-seeds", type=int, default=200, help="no-shift batches for our detector alone")
    parser.add_argument("--min-effect", type=float, default=0.05)
    args = parser.parse_args()
    spec = bench_spec(args.min_effect)
    rows = scenario_rows(spec, args.sizes, args.seeds) if args.seeds else []
    fpr = false_positive_rows(spec, args.sizes[:2], args.fpr_seeds) if args.fpr_seeds else []
    big = big_batch_row(spec, args.big_rows) if args.big_rows else None
    print(markdown(rows, big, fpr))


if __name__ == "__main__":
    main()
