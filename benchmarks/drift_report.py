"""The drift benchmark's tables and goal verdicts, printed as they go into the README and the docs.

The README's tables are printed here, never edited by hand, so a figure there is always one run's.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from scipy.stats import binomtest

from ml_platform.lib.drift import DriftDecision


def evidently_verdicts(run: dict, features: list[str]) -> dict:
    """From one run on features + predictions with a drift share like ours (any one column): that verdict,
    and the features-only verdicts at the default share (0.5) and like ours, read off the same flags.

    Evidently's per-column test sees only its column, and its dataset rule is `share >= drift_share`
    (evidently/legacy/calculations/data_drift.py), so one run answers all three."""
    share = sum(run["columns"][c] for c in features) / len(features)
    return {"default": share >= 0.5, "like_ours": share > 0, "with_predictions": run["drift"]}


def flagged(decision: DriftDecision, column: str | None, p_value: float, min_effect: float) -> tuple[bool, bool]:
    """(the column flagged, the batch flagged) with the family judged at `p_value`; a missing share counts
    for its column."""
    tests = sum(c.tests for c in decision.columns)
    hits = [c.column.split(" (")[0] for c in decision.columns if c.p_value < p_value / tests and c.effect >= min_effect]
    return (column in hits if column else bool(hits)), bool(hits)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    return f"nproc {len(os.sched_getaffinity(0))} ({cpu})"


def _rate(value: float) -> str:
    return f"{value:.0f}" if value in (0.0, 1.0) else f"{value:.2f}"


def readme_table(rows: list[dict], big: dict | None, fpr: list[dict], t_profile: float,
                 no_shift: tuple[str, ...], alternate: float) -> str:
    """One line per scenario, each cell the rates at 1k / 10k / 100k rows."""
    by_scenario: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_scenario[row["scenario"]].append(row)
    sizes = " / ".join(f"{r['n'] // 1000}k" for r in next(iter(by_scenario.values()), []))
    lines = [f"| scenario (n = {sizes}) | ours: shifted column | Evidently: shifted column | ours: batch | "
             "Evidently default: batch | Evidently, drift share like ours: batch | Evidently + predictions, "
             "like ours: batch |", "|---|---|---|---|---|---|---|"]
    for name, cells in by_scenario.items():
        label = f"{name} (false positives)" if name in no_shift else name
        lines.append(f"| {label} | " + " | ".join(" / ".join(_rate(c[key]) for c in cells) for key in (
            "ours_col", "ev_col", "ours", "ev", "ev_like", "ev_pred")) + " |")
    notes = []
    if fpr:
        notes.append(f"Ours alone on no-shift batches (false-positive rate, shipped / drift_p_value {alternate}): "
                     + ", ".join(f"{r['fpr']:.3f} / {r['fpr_alt']:.3f} at {r['n']:,} rows ({r['seeds']} batches)"
                                 for r in fpr) + ".")
    if big:
        total = big["t_profile"] + big["t_ours"]
        lines += ["", "| rows x columns (median of 3) | ours: profile + batch s | ours: batch alone s | "
                  "Evidently default s | speed-up incl. profile | speed-up per batch |", "|---|---|---|---|---|---|",
                  f"| {big['rows']:,} x {big['columns']} | {total:.2f} | {big['t_ours']:.2f} | {big['t_ev']:.1f} | "
                  f"**{big['t_ev'] / total:.0f}x** | {big['t_ev'] / big['t_ours']:.0f}x |"]
        notes.append(f"On that batch ours flagged {', '.join(big['ours_flags']) or 'nothing'}; Evidently "
                     f"{', '.join(big['ev_flags']) or 'nothing'} (`income` and `x0` shifted 0.1 SD).")
    notes.append(f"Our profile of the 15,000-row reference, with the model's scores on 5,000 held-out rows: "
                 f"{t_profile:.3f} s.")
    return "\n".join(lines + [""] + notes)


def _behind(row: dict, key: str) -> str:
    """A cell where ours trailed, with the exact McNemar test on the batches where only one tool flagged
    (shipped p-value): whether the gap is beyond the noise of this many batches."""
    text = f"{row['scenario']} at {row['n']:,} ({row[key]:.2f} < {row['ev_col']:.2f}"
    if key == "ours_col":
        ours, ev = int(row["ours_only"]), int(row["ev_only"])
        p_value = binomtest(ours, ours + ev).pvalue if ours + ev else 1.0
        text += f"; only ours {ours}, only Evidently {ev} of {row['seeds']}: McNemar p {p_value:.2f}"
    return text + ")"


def goals(rows: list[dict], fpr: list[dict], big: dict | None, no_shift: tuple[str, ...], alternate: float) -> str:
    """Each goal and whether this run met it, naming every cell that did not."""
    out = []
    for key, label in (("ours_col", "shipped drift_p_value"), ("alt_col", f"drift_p_value {alternate}")):
        behind = [_behind(r, key) for r in rows if r["scenario"] not in no_shift and r[key] < r["ev_col"]]
        out.append(f"Goal: ours detects the shifted column at least as often as Evidently, every scenario and n "
                   f"({label}): " + ("held." if not behind else "NOT held in " + "; ".join(behind) + "."))
    rates = [(f"{r['scenario']} at {r['n']:,}", r["ours"]) for r in rows if r["scenario"] in no_shift]
    rates += [(f"no shift, ours alone at {r['n']:,}", r["fpr"]) for r in fpr]
    over = [f"{name} ({rate:.3f})" for name, rate in rates if rate > 0.05]
    out.append("Goal: false-positive rate <= 5% at every n (shipped drift_p_value): "
               + ("held." if not over else "NOT held: " + "; ".join(over)))
    if big:
        speed = big["t_ev"] / (big["t_profile"] + big["t_ours"])
        out.append(f"Goal: >= 10x faster than Evidently's default at {big['rows']:,} x {big['columns']}, including "
                   f"our profile build: {speed:.0f}x, " + ("held." if speed >= 10 else "NOT held."))
    return "\n".join(out)


def markdown(rows: list[dict], t_profile: float, alternate: float) -> str:
    """Every cell: rates, and median seconds per batch (ours with the model's scoring; Evidently's default
    preset on the features, timed 3 times per size)."""
    lines = [f"| scenario | n | seeds | ours: column | ours, p {alternate}: column | Evidently: column | "
             f"ours: batch | ours, p {alternate}: batch | Evidently default: batch | Evidently, share like ours | "
             "Evidently + predictions | ours s | ours s incl. profile | Evidently s |", "|---|---:|---:|" + "---:|" * 11]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['n']:,} | {r['seeds']} | " + " | ".join(f"{r[k]:.2f}" for k in (
            "ours_col", "alt_col", "ev_col", "ours", "alt", "ev", "ev_like", "ev_pred")) +
            f" | {r['t_ours']:.3f} | {r['t_ours'] + t_profile:.3f} | {r['t_ev']:.3f} |")
    return "\n".join(lines)
