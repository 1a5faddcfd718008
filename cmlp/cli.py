"""The ``cmlp`` command (console script and ``python -m cmlp``): train, evaluate, predict,
export-c.

    cmlp train                 # the notebook's experiment on the bundled sample
    cmlp fetch                 # the full MNIST, md5-checked, into the cache
    cmlp train --train mnist --test mnist --hidden 128 64 --batch-size 64 \\
               --optimizer adam --save model.npz --plot plots/
    cmlp evaluate model.npz --test mnist/ --plot plots/
    cmlp predict model.npz test.csv --out submission.csv
    cmlp export-c model.npz -o model.h --variant int8

Thin by design (DESIGN.md): argument parsing, progress, printing and plots only. Files are
read and checked by cmlp.datasets, training and inference belong to Network, the confusion
matrix and per-class scores to cmlp.metrics, figures to cmlp.plots.

Exit status: 0 success; 1 training diverged; 2 a usage or user error (bad option, missing or
malformed file, a file that is not a model); 130 interrupted; 141 the output pipe closed
(`cmlp train | head`). Errors are one line on stderr, never a traceback (set CMLP_DEBUG=1 to
get the traceback of a user error).

Progress: the notebook-style lines ("Iteration:    10  loss: ...") go to stdout every
--print-every epochs through Network.fit's callback, so logs and pipes get plain lines. When
stderr is a terminal (and TERM is not "dumb") a one-line bar is also kept at the bottom of the
screen: a ticker thread redraws it five times a second while a compiled epoch runs (the
kernels hold no GIL), placing it inside the epoch by the rows the epoch has trained on so far
(Network.epoch_progress, published by the compiled loop after every batch), with examples per
second and the time left. tqdm draws bars from counts fed to update() by the loop it wraps;
here the loop is compiled and the count is read from another thread, so tqdm would need the
same ticker and would add a dependency for no line saved.
"""
import argparse
import math
import os
import shutil
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from cmlp import __version__
from cmlp.dropout import check_rates
from cmlp.initializers import INITIALIZERS
from cmlp._training import hold_out_rows
from cmlp.network import ACTIVATIONS, Network, TrainingDiverged, progress_line
from cmlp.optimizers import OPTIMIZERS, SCHEDULES
from cmlp.plots import PlottingUnavailable  # matplotlib itself is imported only to draw

EXIT_OK, EXIT_DIVERGED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141
N_CLASSES = 10  # MNIST digits; cmlp.datasets guarantees labels in 0-9
SAMPLE = "the bundled sample"
SAMPLE_ORIGIN = "the 10,000 MNIST test images"

__all__ = ["main", "build_parser", "method_defaults"]


class UserError(Exception):
    """Something the user can fix; main() prints it as one line and exits with status 2."""


class _UsageError(UserError):
    """A bad command line, already worded by argparse and prefixed with the command."""


# --------------------------------------------------------------------------------------
# argument parsing


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (argparse prints usage lines too)."""

    def error(self, message):
        raise _UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


class _HelpFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the default is None/False or the
    help already talks about the default."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (not action.option_strings or default is None or default is False
                or default is argparse.SUPPRESS or "default" in text):
            return text
        if isinstance(default, list):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})"


def _positive_int(text):
    value = _parse(int, text, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _nonnegative_int(text):
    value = _parse(int, text, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _positive_float(text):
    value = _parse(float, text, "a number")
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _nonnegative_float(text):
    value = _parse(float, text, "a number")
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def _fraction(text):
    value = _parse(float, text, "a number")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def _parse(kind, text, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


# --epochs and --lr when not given, by method: the notebook's full-batch run keeps its own
# values; mini-batches need far fewer epochs, and each optimizer its own scale of rate
# (the momentum and Adam rates are those of benchmarks/accuracy.py's 98% recipes).
_EPOCHS = {"full": 1000, "mini": 10}
_LEARNING_RATES = {
    "full": {"sgd": 0.11, "momentum": 0.05, "adam": 0.01},
    "mini": {"sgd": 0.1, "momentum": 0.05, "adam": 0.001},
}


def _defaults_help(option):
    if option == "epochs":
        return (f"{_EPOCHS['full']:,} with full batch, {_EPOCHS['mini']} with --batch-size")
    full, mini = _LEARNING_RATES["full"], _LEARNING_RATES["mini"]
    return ("full batch " + ", ".join(f"{k} {v:g}" for k, v in full.items())
            + "; with --batch-size " + ", ".join(f"{k} {v:g}" for k, v in mini.items()))


def method_defaults(batch_size, optimizer):
    """The ``--epochs`` and ``--lr`` that ``cmlp train`` uses when they are not given.

    Parameters
    ----------
    batch_size : int or None
        The ``--batch-size`` (None: full-batch gradient descent).
    optimizer : {"sgd", "momentum", "adam"}
        The ``--optimizer``.

    Returns
    -------
    epochs : int
        1,000 iterations with full batch (the notebook's run), 10 epochs with mini-batches.
    learning_rate : float
        A rate that suits the optimizer and the method.

    Examples
    --------
    >>> from cmlp.cli import method_defaults
    >>> method_defaults(None, "sgd")
    (1000, 0.11)
    >>> method_defaults(128, "adam")
    (10, 0.001)
    """
    method = "full" if batch_size is None else "mini"
    return _EPOCHS[method], _LEARNING_RATES[method][optimizer]


def build_parser():
    """The ``cmlp`` argument parser: ``train``, ``evaluate``, ``predict`` and ``fetch``.

    Returns
    -------
    argparse.ArgumentParser
        The parser; `main` runs the command it parses. The documentation's command-line
        page is generated from it.

    Examples
    --------
    >>> from cmlp.cli import build_parser
    >>> args = build_parser().parse_args(["train", "--hidden", "128", "--batch-size", "64"])
    >>> args.hidden, args.batch_size, args.epochs
    ([128], 64, None)
    """
    formatter = _HelpFormatter
    parser = _Parser(
        prog="cmlp",
        description="Train, evaluate and apply compiled multi-layer perceptrons on MNIST.",
        epilog="Exit status: 0 ok, 1 training diverged, 2 usage or data error.")
    parser.add_argument("--version", action="version", version=f"cmlp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND",
                                     parser_class=_Parser, required=True)

    train = commands.add_parser(
        "train", formatter_class=formatter, help="train a network (default: the notebook run)",
        description="Train a network. With no options: the notebook's experiment on "
                    "the bundled sample (shuffle, hold out 1,000 dev rows, 784-10-10 by "
                    "full-batch gradient descent, learning rate 0.11, 1,000 iterations). "
                    "Without --epochs and --lr, values that suit the method and optimizer "
                    "are used and printed.")
    data = train.add_argument_group("data")
    data.add_argument("--train", metavar="PATH",
                      help="CSV file, a directory holding MNIST's train-* IDX files, or "
                           "'mnist': the full MNIST from $CMLP_DATA or the cache, downloaded "
                           "there first if missing (default: the bundled sample, the 10,000 "
                           "MNIST test images)")
    data.add_argument("--test", metavar="PATH",
                      help="labelled CSV file, a directory holding MNIST's t10k-* IDX "
                           "files, or 'mnist'; scored after training")
    data.add_argument("--dev-size", type=_nonnegative_int, default=1000, metavar="N",
                      help="rows of the shuffled training data held out and scored after "
                           "training (0: none)")
    net = train.add_argument_group("network")
    net.add_argument("--hidden", type=_positive_int, nargs="*", default=[10], metavar="N",
                     help="hidden layer widths; '--hidden' alone means no hidden layer")
    net.add_argument("--activation", choices=ACTIVATIONS, default="relu",
                     help="hidden-layer activation")
    net.add_argument("--init", choices=INITIALIZERS, default="he",
                     help="initial weights ('uniform' is the notebook's uniform(-0.5, 0.5))")
    net.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                     help="floating-point type of the weights and the computation")
    net.add_argument("--seed", type=_nonnegative_int, default=0,
                     help="seeds the dev split, the initial weights and the shuffling")
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", type=_positive_int, default=None,
                     help="epochs; with full batch one epoch is one iteration (default: "
                          + _defaults_help("epochs") + ")")
    fit.add_argument("--lr", type=_positive_float, default=None, metavar="RATE",
                     help="learning rate (default: " + _defaults_help("lr") + ")")
    fit.add_argument("--batch-size", type=_positive_int, default=None, metavar="N",
                     help="mini-batch size (default: full-batch gradient descent)")
    fit.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                     help="update rule: plain gradient descent, momentum or Adam")
    fit.add_argument("--momentum", type=_fraction, default=None, metavar="BETA",
                     help="momentum coefficient of --optimizer momentum (default 0.9)")
    fit.add_argument("--nesterov", action="store_true",
                     help="Nesterov momentum (with --optimizer momentum)")
    fit.add_argument("--l2", type=_nonnegative_float, default=0.0, metavar="LAMBDA",
                     help="L2 weight decay (weights only)")
    fit.add_argument("--lr-schedule", choices=SCHEDULES, default="constant",
                     help="learning rate over the epochs: constant, cosine annealing to 0, "
                          "or times --lr-decay each epoch")
    fit.add_argument("--lr-decay", type=_positive_float, default=None, metavar="FACTOR",
                     help="per-epoch factor of --lr-schedule exponential (default 0.95)")
    fit.add_argument("--early-stopping", action="store_true",
                     help="stop when the dev accuracy has not improved for --patience epochs "
                          "and keep the best weights (with --dev-size 0, 10%% of the "
                          "training rows are held out for it)")
    fit.add_argument("--patience", type=_positive_int, default=None, metavar="EPOCHS",
                     help="epochs without improvement before --early-stopping stops "
                          "(default 10)")
    fit.add_argument("--dropout", type=_fraction, nargs="+", default=None, metavar="RATE",
                     help="dropout while training: one rate for every hidden layer, or one "
                          "for the inputs and one per hidden layer")
    fit.add_argument("--max-norm", type=_positive_float, default=None, metavar="BOUND",
                     help="bound on the norm of each hidden unit's incoming weights")
    fit.add_argument("--augment", choices=("affine", "elastic"), default=None,
                     help="train on randomly transformed images, new ones every epoch: "
                          "shifts, rotations and scaling (affine), plus elastic distortions "
                          "(elastic)")
    fit.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                     help="threads that share each batch (default: one per CPU)")
    out = train.add_argument_group("output")
    out.add_argument("--print-every", type=_nonnegative_int, default=None, metavar="N",
                     help="print a progress line every N epochs (default: 10 for full "
                          "batch, 1 with --batch-size; 0: none)")
    out.add_argument("--save", metavar="MODEL.npz",
                     help="write the trained network here (on Ctrl-C: the epochs finished)")
    out.add_argument("--plot", metavar="DIR",
                     help="write PNG figures here: training curves, confusion matrix, "
                          "misclassified digits (needs matplotlib: pip install 'cmlp[plot]')")
    train.set_defaults(run=_train, parser=train)

    evaluate = commands.add_parser(
        "evaluate", formatter_class=formatter,
        help="accuracy, per-class precision and recall, confusion matrix",
        description="Score a saved network on labelled data: accuracy, per-class precision "
                    "and recall, and the confusion matrix.")
    evaluate.add_argument("model", metavar="MODEL.npz", help="a network saved by cmlp")
    evaluate.add_argument("--test", metavar="PATH",
                          help="labelled CSV file, or a directory holding MNIST's t10k-* "
                               "IDX files (default: the bundled sample)")
    evaluate.add_argument("--plot", metavar="DIR",
                          help="write the confusion matrix and misclassified digits as PNGs "
                               "(needs matplotlib: pip install 'cmlp[plot]')")
    evaluate.set_defaults(run=_evaluate, parser=evaluate)

    predict = commands.add_parser(
        "predict", formatter_class=formatter,
        help="predicted labels as a Kaggle submission CSV",
        description="Predict labels for the images of a CSV file (pixels only or labelled) "
                    "or an IDX directory; write them as CSV with the header ImageId,Label "
                    "(ImageId counts from 1), Kaggle's digit-recognizer submission layout.")
    predict.add_argument("model", metavar="MODEL.npz", help="a network saved by cmlp")
    predict.add_argument("images", metavar="IMAGES",
                         help="CSV file, or a directory holding MNIST's t10k-* IDX images "
                              "file (its labels file is optional)")
    predict.add_argument("--out", metavar="FILE.csv", default="-",
                         help="where to write the predictions; '-' is standard output")
    predict.set_defaults(run=_predict, parser=predict)

    fetch = commands.add_parser(
        "fetch", formatter_class=formatter, help="download the full MNIST (md5-checked)",
        description="Download the four MNIST files into --dir (default: $CMLP_DATA, else "
                    "~/.cache/cmlp/mnist), checking the md5 of each; files already there "
                    "and intact are kept. Afterwards '--train mnist' and '--test mnist' "
                    "find them.")
    fetch.add_argument("--dir", metavar="DIR", default=None,
                       help="where to put the files (default: $CMLP_DATA, else the cache)")
    fetch.add_argument("--mirror", metavar="URL", action="append", default=None,
                       help="base URL to download from, tried in the order given "
                            "(default: the usual MNIST mirrors)")
    fetch.set_defaults(run=_fetch, parser=fetch)

    export_c = commands.add_parser(
        "export-c", formatter_class=formatter,
        help="the network as one dependency-free C99 file",
        description="Write a saved network as one C99 file: static const weights and "
                    "<name>_predict_proba / <name>_predict functions, no allocation, no "
                    "dependency beyond <math.h> (see cmlp.export_c).")
    export_c.add_argument("model", metavar="MODEL.npz", help="a network saved by cmlp")
    export_c.add_argument("-o", "--out", metavar="FILE.h", required=True,
                          help="the C file to write")
    export_c.add_argument("--variant", choices=("float32", "float64", "int8"),
                          help="arithmetic of the C code (default: the network's dtype)")
    export_c.add_argument("--name", default="cmlp_model",
                          help="prefix of every name in the file (a C identifier)")
    export_c.set_defaults(run=_export_c, parser=export_c)
    return parser


# --------------------------------------------------------------------------------------
# shared helpers


MNIST_NAME = "mnist"  # --train/--test mnist: the full MNIST from $CMLP_DATA or the cache


def _load(path, split, *, need_labels, purpose):
    """(X, y, description) from a CSV file, an IDX directory, 'mnist', or the bundled
    sample (None). Says on stderr what it reads: a large CSV takes seconds."""
    from cmlp import datasets  # pandas: imported only when data is read
    if path is None:
        with _status(f"Loading {SAMPLE}..."):
            X, y = datasets.load_sample()
        return X, y, SAMPLE
    if path == MNIST_NAME and not Path(path).exists():
        return _load_mnist(split)
    with _status(f"Loading '{path}'..."):
        X, y = datasets.load_path(path, split=split, require_labels=need_labels)
    description = f"'{path}'"
    if Path(path).is_dir():
        description += f" (MNIST {'t10k' if split == 'test' else 'train'} files)"
    if need_labels and y is None:
        raise UserError(f"{description} has no label column; {purpose} needs labelled data")
    return X, y, description


def _load_mnist(split):
    """The full MNIST split from $CMLP_DATA or the cache, fetched (md5-checked) if missing."""
    from cmlp import datasets
    name = f"MNIST {split} files"
    try:
        with _status(f"Loading the {name}..."):
            X, y = datasets.load_mnist(split)
    except FileNotFoundError:
        _note("MNIST is not in $CMLP_DATA or the cache: downloading it (as `cmlp fetch`)")
        with _status("Downloading MNIST..."):
            directory = datasets.fetch_mnist()
        _note(f"downloaded and checked MNIST in {directory}")
        with _status(f"Loading the {name}..."):
            X, y = datasets.load_mnist(split, data_dir=directory)
    return X, y, f"the {name}"


@contextmanager
def _status(message):
    """Say what is happening while it happens (reading a large CSV takes seconds): on a
    terminal, a line on stderr that is erased afterwards; elsewhere nothing, so that logs
    and pipes keep only results."""
    shown = _is_terminal(sys.stderr)
    if shown:
        sys.stderr.write(message)
        sys.stderr.flush()
    try:
        yield
    finally:
        if shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _prepare_plot_dir(directory):
    """Fail before any work when plotting cannot happen: no matplotlib, unusable directory."""
    if directory is None:
        return None
    from cmlp import plots
    plots.require_matplotlib()
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--plot {directory}: exists and is not a directory")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _check_output_file(path, option):
    """Catch an impossible output path before a long run rather than after it."""
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory, expected a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: directory '{parent}' does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"{option} {path}: directory '{parent}' is not writable")


def _check_width(X, n_features, description):
    if X.shape[1] != n_features:
        raise UserError(f"{description} has {X.shape[1]} pixels per image, the network "
                        f"expects {n_features}")


def _architecture(layer_sizes):
    return "-".join(str(size) for size in layer_sizes)


def _note(message):
    print(f"note: {message}", file=sys.stderr, flush=True)


def _write_plots(directory, figures):
    """Call each (file name, function) and print where the PNGs went."""
    written = []
    for name, draw in figures:
        try:
            written.append(draw(directory / name))
        except ValueError as error:  # e.g. images that are not square: skip that figure
            _note(f"skipped {name}: {error}")
    if written:
        print("Plots: " + ", ".join(str(p) for p in written))


def _score_figures(X, y, proba, label):
    """The confusion-matrix and misclassified-digit figures of one labelled set."""
    from cmlp import metrics, plots
    predicted = proba.argmax(axis=1)
    cm = metrics.confusion_matrix(y, predicted, N_CLASSES)
    return [
        ("confusion_matrix.png",
         lambda path: plots.plot_confusion_matrix(cm, path, title=f"Confusion matrix, {label}")),
        ("misclassified.png",
         lambda path: plots.plot_misclassified(X, y, predicted, path, proba=proba,
                                               title=f"Misclassified, {label}")),
    ]


# --------------------------------------------------------------------------------------
# progress


def _is_terminal(stream):
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Network.fit callback: a line on `out` every `every` epochs, a bar on a terminal.

    Lines: "Iteration:    10  loss: 1.9402  accuracy: 0.4431" (the notebook printed
    the iteration and the training accuracy every 10 iterations), "Epoch:" with mini-batches,
    plus the dev accuracy when one is computed during training.

    The bar shows the epochs done, examples per second, the time elapsed and left, and the
    loss. Between callbacks a ticker thread redraws it every `tick` seconds: a compiled epoch
    runs without the GIL, and the bar advances inside it by `inside()`, the (rows done, rows
    per epoch) of the running epoch (Network.epoch_progress) or None; without `inside`, at
    the rows per second of the epochs done. Neither the bar nor the elapsed time stands still
    during a long epoch.
    """

    def __init__(self, total, every, unit, *, rows=None, val_name="dev_accuracy", out=None,
                 bar_stream=None, bar=None, tick=0.2, inside=None):
        self.total, self.every, self.unit, self.val_name = total, every, unit, val_name
        self.rows = rows  # examples per epoch, for examples per second
        self.out = sys.stdout if out is None else out
        self.bar_stream = sys.stderr if bar_stream is None else bar_stream
        self.bar = _is_terminal(self.bar_stream) if bar is None else bar
        self.tick = tick
        self.inside = inside
        self._start = self._epoch_start = time.perf_counter()
        self._done, self._history = 0, None
        self._drawn_at = -math.inf
        self._bar_visible = False
        self._unicode = "utf" in (getattr(self.bar_stream, "encoding", "") or "").lower()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker = None

    def start(self):
        """Show the empty bar at once and start the ticker (on a terminal)."""
        self._start = self._epoch_start = time.perf_counter()
        if self.bar:
            with self._lock:
                self._draw(self._start)
            self._stop.clear()
            self._ticker = threading.Thread(target=self._run_ticker, daemon=True,
                                            name="cmlp-progress")
            self._ticker.start()

    def _run_ticker(self):
        while not self._stop.wait(self.tick):
            with self._lock:
                if self._bar_visible or self._done == 0:
                    self._draw(time.perf_counter())

    def line(self, epoch, history):
        return progress_line(history, epoch, self.unit, self.val_name)

    def __call__(self, epoch, history):
        with self._lock:
            now = time.perf_counter()
            self._done, self._history, self._epoch_start = epoch + 1, history, now
            printed = self.every and epoch % self.every == 0
            if printed:
                self._clear()
                print(self.line(epoch, history), file=self.out, flush=True)
            if self.bar and (printed or now - self._drawn_at >= 0.1
                             or epoch + 1 == self.total):
                self._draw(now)

    def _position(self, now):
        """Epochs done, as a fraction: inside an epoch, counted (inside) or estimated from
        the earlier ones."""
        done = self._done
        if done >= self.total:
            return float(done)
        counted = self.inside() if self.inside is not None else None
        if counted is not None:
            rows, per_epoch_rows = counted
            # A full count is the epoch just ended, which the callback may have counted.
            return done + (rows / per_epoch_rows if 0 < rows < per_epoch_rows else 0.0)
        if done == 0:
            return 0.0
        per_epoch = (self._epoch_start - self._start) / done
        return done + min(0.99, (now - self._epoch_start) / per_epoch) if per_epoch > 0 else done

    def _draw(self, now):
        elapsed = now - self._start
        position = self._position(now)
        digits = len(f"{self.total:,}")  # fixed-width fields keep the bar from jittering
        info = (f" {position / self.total:4.0%}  {self.unit.lower()} "
                f"{self._done:>{digits},}/{self.total:,}")
        if position > 0 and elapsed > 0:
            per_epoch = elapsed / position
            left = _duration(max(0.0, per_epoch * (self.total - position)))
            if self.rows:
                info += f"  {_rate(self.rows / per_epoch)} ex/s"
        else:
            left = "?:??"
        loss = f"{self._history['loss'][-1]:.4f}" if self._done else "     -"
        info += f"  {_duration(elapsed)} elapsed, {left} left  loss {loss}"
        columns = shutil.get_terminal_size((80, 24)).columns
        width = min(30, columns - len(info) - 3)
        if width >= 10:
            full, empty = ("\u2588", "\u2591") if self._unicode else ("#", "-")
            filled = int(width * position / self.total)
            info = f"|{full * filled}{empty * (width - filled)}|" + info
        self.bar_stream.write("\r" + info[:columns - 1] + "\x1b[K")
        self.bar_stream.flush()
        self._bar_visible = True
        self._drawn_at = now

    def clear(self):
        """Erase the bar so that a line printed now starts at the left margin."""
        with self._lock:
            self._clear()

    def _clear(self):
        if self._bar_visible:
            self.bar_stream.write("\r\x1b[K")
            self.bar_stream.flush()
            self._bar_visible = False

    def stop(self):
        """Stop the ticker and erase the bar."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        self.clear()


def _rate(per_second):
    """Examples per second, short: 950, 12.3k, 1.25M."""
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M"
    if per_second >= 1e4:
        return f"{per_second / 1e3:.0f}k"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f}k"
    return f"{per_second:.0f}"


# --------------------------------------------------------------------------------------
# commands


def _train(args):
    if args.nesterov and args.optimizer != "momentum":
        raise UserError("--nesterov needs --optimizer momentum")
    if args.momentum is not None and args.optimizer != "momentum":
        raise UserError("--momentum needs --optimizer momentum")
    if args.patience is not None and not args.early_stopping:
        raise UserError("--patience needs --early-stopping")
    if args.lr_decay is not None and args.lr_schedule != "exponential":
        raise UserError("--lr-decay needs --lr-schedule exponential")
    default_epochs, default_lr = method_defaults(args.batch_size, args.optimizer)
    chosen = []  # the defaults that apply, printed before training
    if args.epochs is None:
        args.epochs = default_epochs
        chosen.append(f"--epochs {default_epochs}")
    if args.lr is None:
        args.lr = default_lr
        chosen.append(f"--lr {default_lr:g}")
    plot_dir = _prepare_plot_dir(args.plot)
    _check_output_file(args.save, "--save")

    import numpy as np
    X, y, source = _load(args.train, "train", need_labels=True, purpose="training")
    if args.test is not None:
        X_test, y_test, test_source = _load(args.test, "test", need_labels=True,
                                            purpose="--test")
        _check_width(X_test, X.shape[1], f"--test {test_source}")
        if args.train is None:
            _note("the bundled sample is the MNIST test set; a --test file made from MNIST's "
                  "test images overlaps the training rows and overstates the accuracy")
    if args.dev_size >= len(X):
        raise UserError(f"--dev-size {args.dev_size} leaves no training rows: {source} has "
                        f"{len(X):,} rows")

    dev, rest = hold_out_rows(len(X), args.dev_size, np.random.default_rng(args.seed))
    X_dev, y_dev, X_train, y_train = X[dev], y[dev], X[rest], y[rest]

    network = Network([X.shape[1], *args.hidden, N_CLASSES], dtype=args.dtype, seed=args.seed,
                      activation=args.activation, init=args.init, n_threads=args.threads)
    dropout = args.dropout and (args.dropout[0] if len(args.dropout) == 1 else args.dropout)
    check_rates(dropout, network.layer_sizes)  # before anything is printed
    full_batch = args.batch_size is None
    unit = "Iteration" if full_batch else "Epoch"
    every = args.print_every if args.print_every is not None else (10 if full_batch else 1)
    # Scoring the dev set every epoch costs time, so it happens only when something uses
    # it: early stopping, or the training curves of --plot.
    track_dev = args.dev_size > 0 and (args.early_stopping or plot_dir is not None)
    method = ("full-batch gradient descent" if full_batch
              else f"mini-batches of {args.batch_size}")
    held_out = (f"{len(X_dev):,} dev rows held out" if len(X_dev) else "no dev set")
    print(f"Training {_architecture(network.layer_sizes)} ({args.activation}, {args.init} "
          f"init, {args.dtype}) on {len(X_train):,} rows of {source}, {held_out}")
    print(f"{method.capitalize()}, {args.optimizer}, learning rate {args.lr:g}, "
          f"{args.epochs:,} {unit.lower()}s", flush=True)
    if chosen and (args.batch_size is not None or args.optimizer != "sgd"):
        print(f"Defaults for {method} with {args.optimizer}: {' '.join(chosen)} "
              "(give them to choose others)", flush=True)

    progress = Progress(args.epochs, every, unit, rows=len(X_train),
                        val_name="dev_accuracy" if track_dev else "val_accuracy",
                        inside=lambda: network.epoch_progress)
    fit_options = dict(
        epochs=args.epochs, learning_rate=args.lr, batch_size=args.batch_size,
        optimizer=args.optimizer, nesterov=args.nesterov, l2=args.l2,
        lr_schedule=args.lr_schedule, early_stopping=args.early_stopping,
        validation_data=(X_dev, y_dev) if track_dev else None, callback=progress)
    if args.momentum is not None:
        fit_options["momentum"] = args.momentum
    if args.lr_decay is not None:
        fit_options["lr_decay"] = args.lr_decay
    if args.patience is not None:
        fit_options["patience"] = args.patience
    fit_options["dropout"] = dropout
    fit_options["max_norm"] = args.max_norm
    fit_options["augment"] = args.augment
    start = time.perf_counter()
    progress.start()
    try:
        history = network.fit(X_train, y_train, **fit_options)
    except KeyboardInterrupt:
        progress.stop()
        _save_interrupted(network, args, unit)
        raise
    finally:
        progress.stop()
    seconds = time.perf_counter() - start

    n_done = len(history["loss"])
    if args.early_stopping:
        where = "dev" if track_dev else "validation"
        stopped = f"stopped after {n_done:,} {unit.lower()}s; " if n_done < args.epochs else ""
        print(f"Early stopping: {stopped}kept the weights of {unit.lower()} "
              f"{history['best_epoch']} (best {where} accuracy "
              f"{history['val_accuracy'][history['best_epoch']]:.4f})")
    print(f"Training accuracy: {network.score(X_train, y_train):.4f}")
    if len(X_dev):
        print(f"Dev accuracy: {network.score(X_dev, y_dev):.4f}")
    if args.test is not None:
        print(f"Test accuracy: {network.score(X_test, y_test):.4f}")
    print(f"Time: {seconds:.2f} s for {n_done:,} {unit.lower()}s "
          f"({1000 * seconds / n_done:.1f} ms each)")
    if args.save is not None:
        network.save(args.save)
        args.saved = True  # for the message if Ctrl-C comes later (plots)
        print(f"Saved the model to {args.save}")

    if plot_dir is not None:
        from cmlp import plots
        if args.test is not None:
            X_eval, y_eval, label = X_test, y_test, "test set"
        elif len(X_dev):
            X_eval, y_eval, label = X_dev, y_dev, "dev set"
        else:
            X_eval, y_eval, label = X_train, y_train, "training set"
        data_name = "the bundled sample" if args.train is None else Path(args.train).name
        title = (f"{_architecture(network.layer_sizes)} on {data_name}: {method}, "
                 f"{args.optimizer}, learning rate {args.lr:g}")
        figures = [("training_curves.png",
                    lambda path: plots.plot_history(
                        history, path, unit=unit, title=title,
                        val_label="dev" if track_dev else "validation"))]
        figures += _score_figures(X_eval, y_eval, network.predict_proba(X_eval), label)
        _write_plots(plot_dir, figures)
    return EXIT_OK


def _save_interrupted(network, args, unit):
    """On Ctrl-C during training with --save: write the weights of the finished epochs.

    fit leaves the weights of the last completed update and network.history_ the epochs
    finished; a second Ctrl-C while saving leaves the old file or none (saves are atomic).
    """
    done = len(getattr(network, "history_", {}).get("loss", ()))
    if args.save is None or done == 0:
        return
    network.save(args.save)
    args.saved = True
    args.saved_epochs = f"{done:,} finished {unit.lower()}{'s' if done > 1 else ''}"


def _fetch(args):
    from cmlp import datasets
    where = args.dir if args.dir is not None else "$CMLP_DATA or the cache"
    print(f"Fetching MNIST into {where} (files already there and intact are kept)...",
          flush=True)
    directory = datasets.fetch_mnist(args.dir, mirrors=args.mirror)
    print(f"MNIST is in {directory} (md5 checked); use it with --train mnist --test mnist"
          + ("" if args.dir is None else f" or --train {directory} --test {directory}"))
    return EXIT_OK


def _evaluate(args):
    from cmlp import metrics
    plot_dir = _prepare_plot_dir(args.plot)
    network = Network.load(args.model)
    X, y, source = _load(args.test, "test", need_labels=True, purpose="evaluate")
    _check_width(X, network.n_features, source)
    proba = network.predict_proba(X)
    predicted = proba.argmax(axis=1)
    cm = metrics.confusion_matrix(y, predicted, network.n_classes)
    precision, recall = metrics.precision_recall(cm)
    correct = int(cm.trace())

    print(f"Model: {args.model} ({_architecture(network.layer_sizes)}, "
          f"{network.activation}, {network.dtype.name})")
    origin = f" ({SAMPLE_ORIGIN})" if source == SAMPLE else ""
    print(f"Data: {source}{origin}, {len(y):,} images")
    print(f"Accuracy: {correct / len(y):.4f} ({correct:,} of {len(y):,})")
    print()
    print("Class  Precision  Recall  Support")
    for k in range(network.n_classes):
        p = "-" if math.isnan(precision[k]) else f"{precision[k]:.4f}"
        r = "-" if math.isnan(recall[k]) else f"{recall[k]:.4f}"
        print(f"{k:>5}  {p:>9}  {r:>6}  {int(cm[k].sum()):>7}")
    print()
    print("Confusion matrix (rows: true label, columns: predicted label)")
    width = max(5, len(str(int(cm.max()))) + 1)
    print("true\\pred" + "".join(f"{k:>{width}}" for k in range(network.n_classes)))
    for k, row in enumerate(cm):
        print(f"{k:>9}" + "".join(f"{int(v):>{width}}" for v in row))

    if plot_dir is not None:
        label = "sample" if source == SAMPLE else Path(args.test).name
        _write_plots(plot_dir, _score_figures(X, y, proba, label))
    return EXIT_OK


def _predict(args):
    network = Network.load(args.model)
    X, y, source = _load(args.images, "test", need_labels=False, purpose="predict")
    _check_width(X, network.n_features, source)
    if args.out != "-":
        _check_output_file(args.out, "--out")
    labels = network.predict(X)
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels.tolist(), start=1))
    if args.out == "-":
        sys.stdout.write("ImageId,Label\n" + rows)
        sys.stdout.flush()
        return EXIT_OK
    from cmlp._files import write_atomically
    data = ("ImageId,Label\n" + rows).encode()
    write_atomically(args.out, lambda f: f.write(data), "the predictions")
    print(f"Wrote {len(labels):,} predictions for {source} to {args.out}")
    if y is not None:
        print(f"Accuracy against the labels in {source}: {network.score(X, y):.4f}")
    return EXIT_OK


def _export_c(args):
    from cmlp.export_c import to_c

    network = Network.load(args.model)
    to_c(network, args.out, variant=args.variant, name=args.name)
    variant = args.variant or network.dtype.name
    print(f"Wrote {network!r} as {variant} C to {args.out} "
          f"({os.path.getsize(args.out):,} bytes)")
    return EXIT_OK


# --------------------------------------------------------------------------------------
# entry point


def _one_line(text):
    return " ".join(str(text).split("\n")).strip()


def _fail(message, status):
    print(_one_line(message), file=sys.stderr, flush=True)
    return status


def _save_note(args):
    """What an interrupted `cmlp train --save PATH` left: saves are atomic, all or nothing."""
    path = getattr(args, "save", None)
    if path is None:
        return ""
    if getattr(args, "saved_epochs", None):
        return (f"; saved the model to {path}: {args.saved_epochs}, and the completed "
                "updates of the next")
    if getattr(args, "saved", False):
        return f"; the model was saved to {path}"
    return f"; nothing was written to {path}"


def main(argv=None):
    """Run the ``cmlp`` command line and return its exit status.

    The console script ``cmlp`` and ``python -m cmlp`` call it with the process's arguments.
    Errors are one line on stderr, never a traceback (set ``CMLP_DEBUG=1`` for one).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name (default ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success; 1 training diverged; 2 a usage or data error; 130 interrupted.

    Examples
    --------
    >>> from cmlp.cli import main
    >>> main(["train", "--epochs", "10", "--print-every", "0"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    command = "cmlp"
    args = None
    debug = bool(os.environ.get("CMLP_DEBUG"))
    try:
        args, extra = parser.parse_known_args(argv)
        command = f"cmlp {args.command}"
        if extra:  # reported by the subcommand's parser, which names the command
            args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return args.run(args)
    except _UsageError as error:
        return _fail(error, EXIT_USAGE)
    except UserError as error:
        if debug:
            raise
        return _fail(f"{command}: error: {error}", EXIT_USAGE)
    except TrainingDiverged as error:
        if debug:
            raise
        return _fail(f"{command}: error: {error}", EXIT_DIVERGED)
    except BrokenPipeError:
        # The reader went away (`cmlp train | head`): stop quietly, and point stdout at
        # devnull so the interpreter's final flush does not complain. 141 = 128 + SIGPIPE,
        # what a shell reports for `yes | head`: 1 means the training diverged.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except (OSError, ValueError, PlottingUnavailable) as error:
        # Bad files and values (DatasetError is a ValueError, a missing file an OSError,
        # a missing matplotlib a plots.PlottingUnavailable): the user's to fix.
        if debug:
            raise
        return _fail(f"{command}: error: {error}", EXIT_USAGE)
    except KeyboardInterrupt:
        return _fail(f"{command}: interrupted{_save_note(args)}", EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
