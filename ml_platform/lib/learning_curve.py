"""Would more rows help? Read off the winner's scores at the search's rungs (each a multiple of the last).

A data scientist setting `training.sample_rows` needs to see what the rows buy. The search scores its
winner at every rung, so the curve costs no extra fit: if the last step up in rows still gained more
than the scores' spread across folds (and at least `MIN_GAIN`), more rows would likely help.
"""

from __future__ import annotations

MIN_GAIN = 0.002


def more_rows_verdict(curve: list[dict]) -> str:
    """A sentence for the evaluation report from [{rows, score, std}, ...], fewest rows first."""
    if len(curve) < 2:
        return "not measured: the search had one rung (too few rows or candidates to halve)"
    before, last = curve[-2], curve[-1]
    gain, noise = last["score"] - before["score"], max(last["std"], before["std"], MIN_GAIN)
    step = f"{before['rows']:,} to {last['rows']:,} rows changed the score by {gain:+.4f} (fold spread {noise:.4f})"
    if gain > noise:
        return f"likely: {step}; a larger training.sample_rows should score higher"
    return f"unlikely: {step}; the sample is large enough for this model"


def learning_curve_png(curve: list[dict], metric: str, title: str) -> bytes:
    """Cross-validated score against training rows (log scale), one standard deviation as error bars."""
    from ml_platform.lib.plots import figure_png, pyplot

    fig, ax = pyplot().subplots(figsize=(6, 3.5))
    ax.errorbar([p["rows"] for p in curve], [p["score"] for p in curve], yerr=[p["std"] for p in curve],
                marker="o", capsize=4)
    ax.set_xscale("log")
    ax.set_xlabel("rows in the sample (each fold trains on its other folds)")
    ax.set_ylabel(f"cv {metric}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return figure_png(fig)
