"""Classification metrics the CLI reports: the confusion matrix, per-class precision and recall.

Plain numpy on label arrays; kept out of cmlp/cli.py so the command stays free of math.
"""
import numpy as np

__all__ = ["confusion_matrix", "precision_recall"]


def confusion_matrix(y_true, y_pred, n_classes):
    """Counts, (n_classes, n_classes) int64: row = true label, column = predicted label."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(
            f"y_true and y_pred must be 1-D of one length, got {y_true.shape} and {y_pred.shape}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds labels outside [0, {n_classes})")
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def precision_recall(cm):
    """(precision, recall) per class from a confusion matrix, float64 arrays.

    precision[k] = cm[k, k] / (column k's sum): of the rows predicted k, the fraction that are k.
    recall[k]    = cm[k, k] / (row k's sum): of the rows that are k, the fraction found.
    A class never predicted (or absent) gets NaN, not 0: "undefined" is not "always wrong".
    """
    cm = np.asarray(cm, dtype=np.float64)
    hits = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, hits / cm.sum(axis=0), np.nan)
        recall = np.where(cm.sum(axis=1) > 0, hits / cm.sum(axis=1), np.nan)
    return precision, recall
