"""cmlp.sklearn: scikit-learn's own estimator checks, and what a user of scikit-learn's
MLPClassifier / MLPRegressor relies on (labels, partial_fit, warm_start, weights, pandas,
convergence, L-BFGS, pickling, pipelines)."""
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_methods_sample_order_invariance, check_methods_subset_invariance,
    check_sample_weight_equivalence_on_dense_data, parametrize_with_checks)

from cmlp.sklearn import MLPClassifier, MLPRegressor

FLOAT32_WEIGHTS = (
    "float32 rounding: fitting with integer weights and fitting on repeated rows agree to "
    "about 1e-7 relative in float32, and this check demands rtol=1e-7 of predictions; "
    "it passes with dtype='float64' (test_sample_weight_equivalence_in_float64)")


def _expected_failures(estimator):
    return {"check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS}


# One thread: the checks fit ~100 tiny models, where OpenMP's barriers only cost time (and
# much of it on a machine whose cores are shared); the threaded kernels have their own tests.
@parametrize_with_checks([MLPClassifier(n_threads=1), MLPRegressor(n_threads=1)],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", [MLPClassifier(dtype="float64", solver="lbfgs",
                                                     n_threads=1),
                                       MLPRegressor(dtype="float64", solver="sgd", tol=1e-2,
                                                    random_state=42, n_threads=1),
                                       MLPClassifier(dtype="float64", n_threads=1)],
                         ids=["classifier-lbfgs", "regressor-sgd", "classifier-adam"])
def test_sample_weight_equivalence_in_float64(estimator):
    """The check expected to fail in float32 passes in float64 (scikit-learn runs its own
    MLPs through it with the first two settings)."""
    check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", [MLPClassifier(n_threads=1, activation="tanh"),
                                       MLPRegressor(n_threads=1, activation="tanh"),
                                       MLPClassifier(n_threads=2)],
                         ids=["classifier-tanh", "regressor-tanh", "classifier-2-threads"])
def test_order_and_subset_checks_hold_for_many_permutations(simd_path, estimator):
    """scikit-learn's order check permutes the rows with numpy's global generator, unseeded,
    so one run tries one permutation: try many, on every SIMD path the host has. (On AVX-512
    a row alone and the same row in a tile of the narrow kernels differed by an ulp, which
    failed these checks for 1 to 7 permutations in 10, depending on the estimator.)"""
    name = type(estimator).__name__
    state = np.random.get_state()
    try:
        for seed in range(10):
            np.random.seed(seed)
            check_methods_sample_order_invariance(name, estimator)
    finally:
        np.random.set_state(state)
    check_methods_subset_invariance(name, estimator)


# n_threads=1 below: these tests are about scikit-learn's semantics and fit many tiny models,
# where OpenMP barriers only add waiting on a shared machine.


def _blobs(n=120, n_classes=3, seed=0):
    X, y = make_classification(n_samples=n, n_features=6, n_informative=4,
                               n_classes=n_classes, random_state=seed)
    return X, y


def test_any_labels_and_probabilities():
    X, y = _blobs()
    names = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier(n_threads=1, max_iter=300, random_state=0).fit(X, names)
    assert list(clf.classes_) == ["cat", "dog", "emu"]
    assert set(clf.predict(X)) <= set(clf.classes_)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-6)
    assert clf.score(X, names) > 0.8
    shifted = MLPClassifier(n_threads=1, max_iter=300, random_state=0).fit(X, y * 10 + 7)
    assert list(shifted.classes_) == [7, 17, 27]
    assert_allclose(shifted.predict_proba(X), proba, rtol=1e-5, atol=1e-6)


def test_binary_uses_one_logistic_unit_with_scikit_learns_shapes():
    X, y = _blobs(n_classes=2)
    labels = np.array(["no", "yes"])[y]
    clf = MLPClassifier(n_threads=1, hidden_layer_sizes=(7, 5), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
        ref = SkMLPClassifier(hidden_layer_sizes=(7, 5), max_iter=50, random_state=0)
        ref.fit(X, labels)
    assert clf.out_activation_ == ref.out_activation_ == "logistic"
    assert clf.n_outputs_ == ref.n_outputs_ == 1
    assert [c.shape for c in clf.coefs_] == [c.shape for c in ref.coefs_] == [
        (6, 7), (7, 5), (5, 1)]
    assert [b.shape for b in clf.intercepts_] == [(7,), (5,), (1,)]
    assert clf.n_layers_ == 4
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_allclose(proba.sum(axis=1), 1)
    # the one unit is the second class's probability; predict thresholds it at 0.5
    assert_array_equal(clf.predict(X), np.where(proba[:, 1] > 0.5, "yes", "no"))
    # the same model family, start (random_state) and data: about the same fit
    assert abs(clf.score(X, labels) - ref.score(X, labels)) < 0.05


def test_multilabel_trains_a_logistic_unit_per_label():
    X, y = _blobs()
    Y = np.eye(3, dtype=int)[y] | np.eye(3, dtype=int)[(y + 1) % 3] * (X[:, 0] > 0)[:, None]
    clf = MLPClassifier(n_threads=1, solver="lbfgs", max_iter=300, random_state=0)
    clf.fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert_array_equal(clf.classes_, [0, 1, 2])
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape and not np.allclose(proba.sum(axis=1), 1)
    assert_array_equal(clf.predict(X), (proba > 0.5).astype(int))
    assert clf.score(X, Y) > 0.9  # subset accuracy, as scikit-learn's
    with pytest.raises(ValueError, match="multiclass-multioutput"):
        MLPClassifier(n_threads=1).fit(X, np.c_[y, y])


def test_partial_fit_needs_classes_first_and_then_learns():
    X, y = _blobs(n=300)
    clf = MLPClassifier(n_threads=1, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    assert clf.n_iter_ == 1 and clf.t_ == 100
    first = clf.loss_
    for _ in range(30):
        clf.partial_fit(X, y)
    # n_iter_ counts the epochs of the last call, as scikit-learn's; t_ all the samples
    assert clf.loss_ < first and clf.n_iter_ == 1 and clf.t_ == 100 + 30 * 300
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(X, y + 5)
    assert not hasattr(MLPClassifier(n_threads=1, solver="lbfgs"), "partial_fit")


def test_partial_fit_epochs_equal_max_iter_epochs():
    """partial_fit continues the optimizer (Adam's moments and step) where it stopped."""
    X, y = make_regression(n_samples=80, n_features=5, random_state=0)
    a = MLPRegressor(n_threads=1, max_iter=5, random_state=0, shuffle=False, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
    b = MLPRegressor(n_threads=1, random_state=0, shuffle=False)
    for _ in range(5):
        b.partial_fit(X, y)
    assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-5)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert_allclose(p, q, rtol=1e-5, atol=1e-6)


def test_warm_start_continues():
    X, y = _blobs()
    clf = MLPClassifier(n_threads=1, max_iter=5, warm_start=True, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        first = clf.loss_curve_[-1]
        clf.fit(X, y)
    # n_iter_ is the last fit's epochs (scikit-learn's); loss_curve_ goes on growing
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10
    assert clf.loss_curve_[5] < first


def test_sample_weight_and_class_weight():
    X, y = _blobs(n=90)
    w = np.random.default_rng(0).integers(0, 3, len(y)).astype(float)
    params = dict(solver="lbfgs", dtype="float64", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted = MLPClassifier(n_threads=1, **params).fit(X, y, sample_weight=w)
        repeated = MLPClassifier(n_threads=1, **params).fit(np.repeat(X, w.astype(int), axis=0),
                                               np.repeat(y, w.astype(int)))
        assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6,
                        atol=1e-8)
        by_class = MLPClassifier(n_threads=1, class_weight={0: 3.0, 2: 0.5}, **params).fit(X, y)
        by_rows = MLPClassifier(n_threads=1, **params).fit(
            X, y, sample_weight=np.array([3.0, 1, 0.5])[y])
        assert_allclose(by_class.predict_proba(X), by_rows.predict_proba(X), rtol=1e-10)
        counts = np.bincount(y[:60], minlength=3)
        balanced = MLPClassifier(n_threads=1, class_weight="balanced", **params).fit(X[:60], y[:60])
        expected = MLPClassifier(n_threads=1, **params).fit(X[:60], y[:60],
                                               sample_weight=(60 / (3 * counts))[y[:60]])
        assert_allclose(balanced.predict_proba(X), expected.predict_proba(X), rtol=1e-10)
    with pytest.raises(ValueError, match="balanced"):
        MLPClassifier(n_threads=1, class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not in classes_"):
        MLPClassifier(n_threads=1, class_weight={9: 2.0}).fit(X, y)


def test_class_weight_shifts_decisions_toward_the_heavy_class():
    X, y = _blobs(n=200, n_classes=2, seed=3)
    plain = MLPClassifier(n_threads=1, random_state=0, max_iter=300).fit(X, y)
    heavy = MLPClassifier(n_threads=1, random_state=0, max_iter=300, class_weight={1: 20.0})
    heavy.fit(X, y)
    assert (heavy.predict(X) == 1).sum() > (plain.predict(X) == 1).sum()


def test_pandas_in_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = MLPClassifier(n_threads=1, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"}))
    assert list(clf.feature_names_in_) == list(X.columns) and clf.n_features_in_ == 4
    assert clf.predict(X).dtype == clf.classes_.dtype and set(clf.predict(X)) <= set(
        ["setosa", "versicolor", "virginica"])
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy())
    reg = MLPRegressor(n_threads=1, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X.iloc[:, :3], X.iloc[:, 3])
        two = MLPRegressor(n_threads=1, max_iter=30, random_state=0)
        two.fit(X.iloc[:, :2], X.iloc[:, 2:])
    assert reg.predict(X.iloc[:, :3]).shape == (150,)
    assert two.predict(X.iloc[:, :2]).shape == (150, 2) and two.n_outputs_ == 2
    assert isinstance(pd.Series(reg.predict(X.iloc[:, :3])), pd.Series)


def test_convergence_warning_and_tol_stop():
    X, y = _blobs()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(n_threads=1, max_iter=3).fit(X, y)
    clf = MLPClassifier(n_threads=1, tol=10.0, n_iter_no_change=2, random_state=0).fit(X, y)
    # scikit-learn's rule: the first epoch sets best_loss_, and training stops once more than
    # n_iter_no_change epochs in a row failed to improve on it by tol
    assert clf.n_iter_ == 4
    assert clf.best_loss_ == min(clf.loss_curve_)


def test_early_stopping_keeps_the_best_epoch():
    X, y = _blobs(n=300)
    clf = MLPClassifier(n_threads=1, early_stopping=True, random_state=0, max_iter=300).fit(X, y)
    assert clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.n_iter_ < 300
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(n_threads=1, early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


def test_learning_rate_schedules():
    X, y = make_regression(n_samples=60, n_features=4, noise=1, random_state=0)
    inv = MLPRegressor(n_threads=1, solver="sgd", learning_rate="invscaling", max_iter=4, tol=0,
                       random_state=0, learning_rate_init=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        inv.fit(X, y)
    assert inv._learning_rate == pytest.approx(0.01 / (4 * 60 + 1) ** 0.5)
    adaptive = MLPRegressor(n_threads=1, solver="sgd", learning_rate="adaptive", tol=1e9,
                            n_iter_no_change=1, random_state=0, max_iter=50)
    adaptive.fit(X, y)
    # every 2 epochs without improvement by tol: the rate is divided by 5 until below 1e-6
    assert adaptive._learning_rate <= 1e-6 and adaptive.n_iter_ < 50


def test_lbfgs_honours_max_iter_and_max_fun():
    X, y = make_regression(n_samples=100, n_features=5, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        reg = MLPRegressor(n_threads=1, solver="lbfgs", max_iter=5, random_state=0).fit(X, y)
    assert reg.n_iter_ == 5 and not hasattr(reg, "loss_curve_")
    with pytest.warns(ConvergenceWarning):
        MLPRegressor(n_threads=1, solver="lbfgs", max_fun=3, random_state=0).fit(X, y)
    good = MLPRegressor(n_threads=1, solver="lbfgs", max_iter=500, random_state=0,
                        hidden_layer_sizes=(20,)).fit(StandardScaler().fit_transform(X), y)
    assert good.score(StandardScaler().fit_transform(X), y) > 0.99


def test_identity_activation_is_linear():
    X, y = make_regression(n_samples=200, n_features=5, noise=0, random_state=1)
    reg = MLPRegressor(n_threads=1, activation="identity", solver="lbfgs", hidden_layer_sizes=(4,),
                       dtype="float64", max_iter=2000, tol=1e-10, alpha=0,
                       random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.999999


def test_pickle_clone_pipeline_and_grid_search():
    X, y = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(n_threads=1, max_iter=20, random_state=0).fit(X, y)
        again = pickle.loads(pickle.dumps(clf))
        assert_allclose(again.predict_proba(X), clf.predict_proba(X))
        again.coefs_[0][0, 0] += 1.0  # coefs_ are the network's weights after unpickling too
        assert not np.allclose(again.predict_proba(X), clf.predict_proba(X))
        assert not hasattr(clone(clf), "coefs_")
        search = GridSearchCV(make_pipeline(StandardScaler(),
                                            MLPClassifier(n_threads=1, max_iter=20)),
                              {"mlpclassifier__alpha": [1e-4, 1e-2]}, cv=2).fit(X, y)
    assert search.best_estimator_.predict(X).shape == (len(X),)


def test_fitted_attributes_are_scikit_learns():
    X, y = _blobs()
    clf = MLPClassifier(n_threads=1, hidden_layer_sizes=(5,), max_iter=15, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    for name in ("classes_", "coefs_", "intercepts_", "loss_", "best_loss_", "loss_curve_",
                 "validation_scores_", "best_validation_score_", "n_iter_", "t_",
                 "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert hasattr(clf, name), name
    assert clf.loss_ == clf.loss_curve_[-1] and clf.t_ == 15 * len(X)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


@pytest.mark.slow  # ~10 s: four blocks of the full MNIST
def test_dask_ml_incremental_over_full_mnist(mnist_dir):
    """Out-of-core: Incremental hands partial_fit one chunk of a dask array at a time."""
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from cmlp.datasets import load_idx

    X, y = load_idx(mnist_dir / "train-images-idx3-ubyte.gz",
                    mnist_dir / "train-labels-idx1-ubyte.gz")
    X_test, y_test = load_idx(mnist_dir / "t10k-images-idx3-ubyte.gz",
                              mnist_dir / "t10k-labels-idx1-ubyte.gz")
    dX = da.from_array(X, chunks=(15000, X.shape[1]))  # four chunks, one pass
    dy = da.from_array(y, chunks=15000)
    inc = wrappers.Incremental(MLPClassifier(n_threads=1, hidden_layer_sizes=(64,), random_state=0))
    inc.fit(dX, dy, classes=np.arange(10))
    model = inc.estimator_
    # scikit-learn's counts: n_iter_ is the epochs of the last call (partial_fit: 1), t_ every row
    assert model.n_iter_ == 1 and model.t_ == 60000
    assert model.score(X_test, y_test) > 0.92  # one pass of Adam: 0.9286 measured


# Drop-in: scikit-learn's bundled data sets, standardised (targets too, for regression),
# a fixed split, both libraries with scikit-learn's defaults and random_state=0 (cmlp in its
# float32). cmlp must score no worse than scikit-learn by more than the tolerance: one or two
# test samples of the small sets (different initial draws and batch orders make single runs
# differ by about that much), 0.05 of R^2.
DROP_IN = [("digits", "load_digits", 0.02), ("iris", "load_iris", 0.06),
           ("wine", "load_wine", 0.05), ("breast_cancer", "load_breast_cancer", 0.03),
           ("diabetes", "load_diabetes", 0.05)]


@pytest.mark.parametrize("name, loader, tolerance", DROP_IN, ids=[d[0] for d in DROP_IN])
def test_drop_in_scores_as_well_as_scikit_learn(name, loader, tolerance):
    import sklearn.datasets
    import sklearn.neural_network
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    regression = name == "diabetes"
    if regression:
        y = (y - y.mean()) / y.std()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=None if regression else y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    kind = "MLPRegressor" if regression else "MLPClassifier"
    theirs = getattr(sklearn.neural_network, kind)(random_state=0)
    ours = (MLPRegressor if regression else MLPClassifier)(random_state=0, n_threads=1)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        their_score = theirs.fit(X_train, y_train).score(X_test, y_test)
        our_score = ours.fit(X_train, y_train).score(X_test, y_test)
    print(f"{name}: cmlp {our_score:.4f} ({ours.n_iter_} epochs), scikit-learn "
          f"{their_score:.4f} ({theirs.n_iter_} epochs)")
    assert our_score >= their_score - tolerance


def test_assigned_coefs_are_checked_and_used_by_predict_and_partial_fit():
    X, y = make_regression(n_samples=60, n_features=4, random_state=0)
    reg = MLPRegressor(n_threads=1, hidden_layer_sizes=(5,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    reg.coefs_ = [np.zeros_like(c) for c in reg.coefs_]  # a new list of new arrays
    reg.intercepts_[-1] = np.array([3.0])                 # an item replaced
    assert_array_equal(reg.predict(X), np.full(len(X), 3.0))
    assert reg.coefs_[0].base is not None  # views of the network again after the sync
    reg.partial_fit(X, y)  # one epoch of Adam from the assigned weights: still near them
    assert reg.intercepts_[-1][0] != 3.0 and 0 < np.abs(reg.coefs_[0]).max() < 0.01
    reg.coefs_[0] = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"coefs_\[0\] must be a real array of shape \(4, 5\)"):
        reg.predict(X)
    reg.coefs_[0] = np.full((4, 5), np.nan)
    with pytest.raises(ValueError, match=r"coefs_\[0\] holds NaN"):
        reg.predict(X)


def test_coefs_assigned_before_fit_are_trained_further_with_partial_fit():
    X, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    clf = MLPClassifier(n_threads=1, solver="sgd", learning_rate_init=0.1, alpha=0.1,
                        activation="logistic", hidden_layer_sizes=2, momentum=0)
    clf.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0]]), np.array([[0.1], [0.2]])]
    clf.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
    clf.n_features_in_ = 3
    clf.partial_fit(X, y, classes=[0, 1])
    # scikit-learn's worked example (its test_fit): one SGD step from those weights
    assert_allclose(clf.coefs_[1].ravel(), [0.04706, 0.154089], atol=1e-3)
    assert_allclose(clf.intercepts_[1], [0.9235], atol=1e-3)


def test_divergence_raises_scikit_learns_error_type_or_keeps_the_best_model():
    from cmlp import TrainingDiverged
    from cmlp.sklearn import TrainingDivergedError

    X, y = load_iris(return_X_y=True)
    params = dict(n_threads=1, hidden_layer_sizes=100, activation="identity", solver="sgd",
                  learning_rate_init=1, max_iter=20, random_state=0)
    with pytest.raises(TrainingDivergedError, match="Solver produced non-finite") as caught:
        MLPRegressor(**params).fit(X, y)
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, TrainingDiverged)
    assert "diverged in epoch" in str(caught.value)  # cmlp's account follows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(early_stopping=True, **params).fit(X, y)
    assert np.isnan(reg.validation_scores_[-1]) and len(reg.validation_scores_) == reg.n_iter_
    assert np.isfinite(reg.predict(X)).all()  # the best epoch's weights


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_parameters_and_outputs_follow_the_dtype_of_X(Estimator):
    X, y = load_iris(return_X_y=True)
    for dtype, given in [(np.float32, None), (np.float64, None), (np.float32, "float32")]:
        est = Estimator(n_threads=1, max_iter=5, random_state=0, dtype=given)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X.astype(np.float64 if given else dtype), y)
        assert {c.dtype for c in est.coefs_ + est.intercepts_} == {np.dtype(dtype)}
        out = est.predict_proba(X) if Estimator is MLPClassifier else est.predict(X)
        assert out.dtype == dtype


def test_validation_loss_curve_with_early_stopping():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(n_threads=1, early_stopping=True, max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    curve = clf.validation_loss_curve_
    assert len(curve) == len(clf.validation_scores_) == clf.n_iter_
    assert np.all(np.isfinite(curve)) and curve[-1] < curve[0]
    assert MLPClassifier(n_threads=1, max_iter=2).fit(X, y).validation_loss_curve_ is None


def test_poisson_loss_matches_scikit_learns():
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    if "loss" not in SkMLPRegressor().get_params():
        pytest.skip("scikit-learn's MLPRegressor has loss='poisson' from 1.7 on")

    rng = np.random.default_rng(0)
    X = rng.random((80, 3))
    y = rng.poisson(np.exp(X @ [0.5, -0.3, 1.0]))
    params = dict(loss="poisson", hidden_layer_sizes=(4,), solver="lbfgs", max_iter=50,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(n_threads=1, **params).fit(X, y)
        ref = SkMLPRegressor(**params).fit(X, y)
    assert ours.out_activation_ == "exp"
    assert_allclose(ours.loss_, ref.loss_, rtol=1e-6)
    assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-5)
    with pytest.raises(ValueError, match="non-negative"):
        MLPRegressor(n_threads=1, loss="poisson", max_iter=2).fit(X, -y - 1.0)


def test_a_missing_scikit_learn_names_the_extra():
    import subprocess
    import sys

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'sklearn' or name.startswith('sklearn.'):\n"
            "            raise ImportError('No module named ' + repr(name))\n"
            "sys.meta_path.insert(0, Block())\n"
            "import cmlp.sklearn\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert 'pip install "cmlp[sklearn]"' in result.stderr
