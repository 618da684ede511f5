"""Small plots for the Dagster UI, returned as PNG bytes.

Assets store them as files under the storage root and as MLflow artifacts, and link them from their
metadata: an image inlined in metadata (base64) would be stored in the event log with every
materialization and sent whole to every UI page that lists them.
"""

from __future__ import annotations

import io

import pandas as pd


def pyplot():
    """matplotlib's pyplot on the file-only backend: assets run without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    """The figure as PNG bytes; the figure is closed (pyplot keeps every open one alive)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    pyplot().close(fig)
    return buffer.getvalue()


def drift_effects_png(table: pd.DataFrame, min_effect: float, title: str) -> bytes:
    """Each test's effect size, drifted ones in red, with the spec's minimum effect as a line."""
    fig, ax = pyplot().subplots(figsize=(7, 0.35 * len(table) + 1.5))
    colors = ["#d62728" if drifted else "#1f77b4" for drifted in table["drifted"]]
    ax.barh(table["column"], table["effect"], color=colors)
    ax.axvline(min_effect, color="black", linestyle="--", linewidth=1, label=f"minimum effect {min_effect}")
    ax.invert_yaxis()
    ax.set_xlabel("effect size (Wasserstein in SDs / total variation / share difference)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    return figure_png(fig)
