"""Held-out metrics, the per-class table and the confusion-matrix plot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from ml_platform.lib.plots import figure_png, pyplot


def _codes(model: Any, y: pd.Series, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Labels, predictions and the model's classes as positions in their sorted union.

    scikit-learn's metrics sort and compare string labels row by row, about 30x the cost of the same
    counting on integers; positions in sorted order keep every metric exactly as on the labels.
    """
    labels = pd.Index(sorted({*model.classes_, *pd.unique(y), *pd.unique(predicted)}), dtype=object)
    return labels.get_indexer(y), labels.get_indexer(predicted), labels.get_indexer(model.classes_).tolist()


def classification_metrics(model: Any, x: pd.DataFrame, y: pd.Series,
                           predicted: np.ndarray | None = None) -> dict[str, float]:
    """accuracy, macro/weighted F1 and ROC AUC (one-vs-rest; omitted when a class is absent).

    Pass `predicted` when the caller already has the model's predictions for `x`."""
    truth, predicted, codes = _codes(model, y, model.predict(x) if predicted is None else predicted)
    metrics = {
        "accuracy": float(accuracy_score(truth, predicted)),
        "f1_macro": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(truth, predicted, average="weighted", zero_division=0)),
    }
    classes = list(model.classes_)
    if set(y.unique()) == set(classes):
        proba = model.predict_proba(x)
        if len(classes) == 2:
            metrics["roc_auc"] = float(roc_auc_score(y == classes[1], proba[:, 1]))
        else:
            metrics["roc_auc"] = float(roc_auc_score(truth, proba, multi_class="ovr", labels=codes))
    return metrics


def per_class_table(model: Any, y: pd.Series, predicted: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support per class, from predictions the caller already made."""
    classes = list(model.classes_)
    truth, predicted, codes = _codes(model, y, predicted)
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=codes, zero_division=0
    )
    return pd.DataFrame({"class": classes, "precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(int)})


def confusion_matrix_png(model: Any, y: pd.Series, predicted: np.ndarray, title: str) -> bytes:
    """A labelled heatmap of counts, as PNG bytes (the UI shows it inline)."""
    classes = list(model.classes_)
    truth, predicted, codes = _codes(model, y, predicted)
    matrix = confusion_matrix(truth, predicted, labels=codes)
    fig, ax = pyplot().subplots(figsize=(1.2 * len(classes) + 2.5, 1.1 * len(classes) + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center",
                color="white" if count > threshold else "black")
    return figure_png(fig)
