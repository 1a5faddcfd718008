"""Classification metrics the CLI reports: the confusion matrix, per-class precision and recall.

Plain numpy on label arrays; kept out of cmlp/cli.py so the command stays free of math.
"""
import numpy as np

__all__ = ["confusion_matrix", "precision_recall"]


def confusion_matrix(y_true, y_pred, n_classes):
    """Count the rows of each (true label, predicted label) pair.

    Parameters
    ----------
    y_true : array-like of int, shape (n_samples,)
        The true labels, in ``0 .. n_classes - 1``.
    y_pred : array-like of int, shape (n_samples,)
        The predicted labels, in the same range.
    n_classes : int
        The number of classes.

    Returns
    -------
    numpy.ndarray of shape (n_classes, n_classes)
        int64 counts: row = true label, column = predicted label.

    Raises
    ------
    ValueError
        Arrays of different lengths or not 1-D, labels outside the range.

    Examples
    --------
    >>> from cmlp.metrics import confusion_matrix
    >>> confusion_matrix([0, 1, 1], [0, 1, 0], 2)
    array([[1, 0],
           [1, 1]])
    """
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
    """Precision and recall of each class, from a confusion matrix.

    ``precision[k]`` is ``cm[k, k]`` over column k's sum (of the rows predicted k, the fraction
    that are k); ``recall[k]`` is ``cm[k, k]`` over row k's sum (of the rows that are k, the
    fraction found). A class never predicted (or absent) gets NaN, not 0: "undefined" is not
    "always wrong".

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        Counts as `confusion_matrix` returns them.

    Returns
    -------
    precision : numpy.ndarray of shape (n_classes,)
        float64, NaN for a class never predicted.
    recall : numpy.ndarray of shape (n_classes,)
        float64, NaN for a class absent from the true labels.

    Examples
    --------
    >>> from cmlp.metrics import precision_recall
    >>> precision, recall = precision_recall([[1, 0], [1, 1]])
    >>> precision.tolist(), recall.tolist()
    ([0.5, 1.0], [1.0, 0.5])
    """
    cm = np.asarray(cm, dtype=np.float64)
    hits = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(cm.sum(axis=0) > 0, hits / cm.sum(axis=0), np.nan)
        recall = np.where(cm.sum(axis=1) > 0, hits / cm.sum(axis=1), np.nan)
    return precision, recall
