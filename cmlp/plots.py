"""PNG figures for `cmlp train --plot DIR` and `cmlp evaluate --plot DIR`.

One function per figure; each writes one PNG and returns its path. matplotlib is the optional
extra ``cmlp[plot]``: it is imported only when a figure is drawn, and a missing matplotlib
raises PlottingUnavailable (an ImportError) whose message says how to install it.

Figures are built on ``matplotlib.figure.Figure`` directly, never through pyplot, so nothing
touches a GUI, a global figure list or the user's backend setting: saving a Figure to .png
renders with Agg, the non-interactive backend, whatever MPLBACKEND says.
"""
import math
import os

import numpy as np

from cmlp._files import write_atomically

__all__ = [
    "PlottingUnavailable",
    "require_matplotlib",
    "plot_history",
    "plot_confusion_matrix",
    "plot_misclassified",
]

_INSTALL_HINT = 'plotting needs matplotlib, which is not installed: pip install "cmlp[plot]"'
_DPI = 110


class PlottingUnavailable(ImportError):
    """The optional matplotlib (the extra ``cmlp[plot]``) is not installed.

    An ImportError whose message says how to install it.

    Examples
    --------
    >>> from cmlp.plots import PlottingUnavailable, require_matplotlib
    >>> try:
    ...     require_matplotlib()
    ... except PlottingUnavailable as error:
    ...     print(error)  # doctest: +SKIP
    """


def require_matplotlib():
    """Import matplotlib, or raise PlottingUnavailable; call it before a long run.

    Raises
    ------
    PlottingUnavailable
        matplotlib is not installed; the message says ``pip install "cmlp[plot]"``.

    Examples
    --------
    >>> from cmlp.plots import require_matplotlib
    >>> require_matplotlib()  # doctest: +SKIP
    """
    try:
        import matplotlib  # noqa: F401
        from matplotlib.figure import Figure  # noqa: F401
    except ImportError as error:
        raise PlottingUnavailable(_INSTALL_HINT) from error


def _figure(**kwargs):
    require_matplotlib()
    from matplotlib.figure import Figure
    return Figure(layout="constrained", **kwargs)


def _save(fig, path):
    """Write the figure as a PNG, all or nothing (cmlp._files.write_atomically)."""
    path = os.fspath(path)
    return write_atomically(
        path, lambda f: fig.savefig(f, dpi=_DPI, format="png", facecolor="white"),
        "the plot")


def plot_history(history, path, *, unit="Iteration", title="Training", val_label="validation"):
    """Draw loss and accuracy per epoch, training and validation, side by side.

    Parameters
    ----------
    history : dict
        `cmlp.Network.fit`'s history (``loss``, ``accuracy``, optional ``val_loss``,
        ``val_accuracy``, ``best_epoch``).
    path : str or os.PathLike
        The PNG file to write.
    unit : str, default="Iteration"
        The x axis: "Iteration" for full batch, "Epoch" otherwise.
    title : str, default="Training"
        The figure's title.
    val_label : str, default="validation"
        The validation rows' name in the legend ("dev" for the command line's dev set).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    PlottingUnavailable
        matplotlib is not installed.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.plots import plot_history
    >>> X, y = load_sample()
    >>> history = Network([784, 10, 10], seed=0).fit(X, y, epochs=10, learning_rate=0.1)
    >>> plot_history(history, "curves.png")  # doctest: +SKIP
    'curves.png'
    """
    epochs = np.arange(len(history["loss"]))
    fig = _figure(figsize=(11, 4.2))
    fig.suptitle(title, fontsize=13)
    ax_loss, ax_acc = fig.subplots(1, 2)
    panels = (
        (ax_loss, "loss", "val_loss", "Cross-entropy loss", "{:.3f}"),
        (ax_acc, "accuracy", "val_accuracy", "Accuracy", "{:.1%}"),
    )
    for ax, key, val_key, ylabel, fmt in panels:
        train = np.asarray(history[key])
        ax.plot(epochs, train, color="tab:blue", lw=1.8,
                label=f"training (last {fmt.format(train[-1])})")
        if history.get(val_key):
            val = np.asarray(history[val_key])
            ax.plot(epochs, val, color="tab:orange", lw=1.8,
                    label=f"{val_label} (last {fmt.format(val[-1])})")
        if history.get("best_epoch") is not None:
            ax.axvline(history["best_epoch"], color="0.4", ls="--", lw=1,
                       label=f"best {val_label}, kept ({unit.lower()} {history['best_epoch']})")
        ax.xaxis.set_major_locator(_integer_locator())
        ax.set_xlabel(unit)
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize=9)
        if len(epochs) <= 30:  # few points: show where the measurements are
            for line in ax.get_lines()[:2]:
                line.set_marker("o")
                line.set_markersize(4)
    if np.min(history["loss"]) > 0 and np.max(history["loss"]) / np.min(history["loss"]) > 50:
        ax_loss.set_yscale("log")
    ax_acc.yaxis.set_major_formatter(_percent_formatter())
    return _save(fig, path)


def _integer_locator():
    from matplotlib.ticker import MaxNLocator
    return MaxNLocator(integer=True)


def _percent_formatter():
    from matplotlib.ticker import PercentFormatter
    return PercentFormatter(xmax=1.0, decimals=0)


def plot_confusion_matrix(cm, path, *, title="Confusion matrix", class_names=None):
    """Draw a confusion matrix: counts in every cell, mistakes on their own scale.

    Correct answers are blue on the diagonal, mistakes red; the two colour scales are separate,
    so the few confusions stay visible next to the large diagonal.

    Parameters
    ----------
    cm : array-like of shape (n_classes, n_classes)
        Counts, as `cmlp.metrics.confusion_matrix` returns them.
    path : str or os.PathLike
        The PNG file to write.
    title : str, default="Confusion matrix"
        The figure's title.
    class_names : sequence of str, optional
        The tick labels (default: 0, 1, ...).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    PlottingUnavailable
        matplotlib is not installed.

    Examples
    --------
    >>> from cmlp.plots import plot_confusion_matrix
    >>> plot_confusion_matrix([[5, 1], [0, 4]], "cm.png")  # doctest: +SKIP
    'cm.png'
    """
    cm = np.asarray(cm)
    k = cm.shape[0]
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    diagonal = np.eye(k, dtype=bool)
    fig = _figure(figsize=(7.4, 6.4))
    ax = fig.subplots()
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"{title}\naccuracy {accuracy:.2%} of {cm.sum():,} images", fontsize=12)

    from matplotlib.colors import Normalize
    errors = np.ma.masked_array(cm, mask=diagonal)
    hits = np.ma.masked_array(cm, mask=~diagonal)
    max_error = max(int(errors.max()) if errors.count() else 0, 1)
    image = ax.imshow(errors, cmap="Reds", norm=Normalize(0, max_error))
    ax.imshow(hits, cmap="Blues", norm=Normalize(0, max(int(cm.max()), 1) * 1.4))
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("misclassified images (off-diagonal cells)")
    bar.ax.yaxis.set_major_locator(_integer_locator())

    for i in range(k):
        for j in range(k):
            count = int(cm[i, j])
            if count == 0 and i != j:
                continue
            dark = (i == j and count > 0.6 * cm.max()) or (i != j and count > 0.6 * max_error)
            ax.text(j, i, f"{count}", ha="center", va="center", fontsize=9,
                    color="white" if dark else "black",
                    fontweight="bold" if i == j else "normal")
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_xticks(np.arange(-0.5, k), minor=True)
    ax.set_yticks(np.arange(-0.5, k), minor=True)
    ax.grid(which="minor", color="white", lw=1)
    ax.tick_params(which="minor", length=0)
    return _save(fig, path)


def plot_misclassified(X, y_true, y_pred, path, *, proba=None, max_images=40, columns=8,
                       title="Misclassified digits"):
    """Draw a grid of misclassified images captioned "true 3 / pred 5".

    With ``proba`` the most confident mistakes come first and each caption adds the predicted
    probability; otherwise the first mistakes in data order are shown.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_pixels)
        Images, a square number of pixels each (784 = 28 x 28).
    y_true : array-like of shape (n_samples,)
        The true labels.
    y_pred : array-like of shape (n_samples,)
        The predicted labels.
    path : str or os.PathLike
        The PNG file to write.
    proba : array-like of shape (n_samples, n_classes), optional
        The predicted probabilities.
    max_images : int, default=40
        The most images drawn.
    columns : int, default=8
        Images per row.
    title : str, default="Misclassified digits"
        The figure's title.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ValueError
        Images that are not square, arrays of different lengths.
    PlottingUnavailable
        matplotlib is not installed.

    Examples
    --------
    >>> from cmlp import Network
    >>> from cmlp.datasets import load_sample
    >>> from cmlp.plots import plot_misclassified
    >>> X, y = load_sample()
    >>> net = Network([784, 10], seed=0)
    >>> plot_misclassified(X, y, net.predict(X), "wrong.png")  # doctest: +SKIP
    'wrong.png'
    """
    X = np.asarray(X)
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    side = math.isqrt(X.shape[1])
    if side * side != X.shape[1]:
        raise ValueError(f"cannot draw images of {X.shape[1]} pixels as squares")
    wrong = np.flatnonzero(y_true != y_pred)
    if proba is not None:
        proba = np.asarray(proba)
        confidence = proba[wrong, y_pred[wrong]]
        order = np.argsort(-confidence, kind="stable")
        wrong = wrong[order]
    shown = wrong[:max_images]
    n_rows = max(1, math.ceil(len(shown) / columns))
    fig = _figure(figsize=(1.45 * columns, 1.65 * n_rows + 0.7))
    which = "most confident" if proba is not None else "first"
    if len(wrong):
        heading = (f"{title}: {len(wrong):,} of {len(y_true):,} images wrong; "
                   f"{len(shown)} {which} shown")
    else:
        heading = f"{title}: none of {len(y_true):,} images is misclassified"
    fig.suptitle(heading, fontsize=12)
    axes = np.atleast_1d(fig.subplots(n_rows, columns, squeeze=False)).ravel()
    for ax in axes:
        ax.set_axis_off()
    vmax = 1.0 if X.size == 0 or X.max() <= 1 else 255.0  # pixels scaled to [0, 1] or raw
    for ax, i in zip(axes, shown):
        ax.imshow(X[i].reshape(side, side), cmap="gray_r", vmin=0, vmax=vmax,
                  interpolation="nearest")
        caption = f"true {y_true[i]} / pred {y_pred[i]}"
        if proba is not None:
            sure = proba[i, y_pred[i]]
            caption += f"\n{sure:.1%} sure" if sure > 0.99 else f"\n{sure:.0%} sure"
        ax.set_title(caption, fontsize=9, color="firebrick")
    return _save(fig, path)
