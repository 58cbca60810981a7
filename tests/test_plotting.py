"""sklm.plotting: the training-record figure, and matplotlib staying optional."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklm import LMRegressor
from sklm.plotting import plot_performance


def _fit(**params):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(120, 2))
    y = np.sin(3 * X[:, 0]) * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        params = dict(alpha=0.0, early_stopping=False) | params  # (defaults before issue 16)
        return LMRegressor((5,), max_iter=15, random_state=0, **params).fit(X, y), X, y


def test_import_sklm_does_not_import_matplotlib():
    code = ("import sys, sklm, sklm.plotting; "
            "assert 'matplotlib' not in sys.modules, 'matplotlib was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_matplotlib_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    model, _, _ = _fit()
    with pytest.raises(ImportError, match=r"pip install sklm\[plot\]"):
        plot_performance(model)


@pytest.fixture
def plt():
    mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed (sklm[plot])")
    mpl.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_early_stopping_record(plt):
    model, _, _ = _fit(early_stopping=True, validation_fraction=0.3)
    ax = plot_performance(model, label="LM")
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["LM train"].get_ydata(), model.loss_curve_)
    np.testing.assert_allclose(lines["LM validation"].get_ydata(),
                               model.validation_loss_curve_)
    best = model.best_iteration_  # the kept iteration: here the lowest validation loss
    assert best == int(np.argmin(model.validation_loss_curve_)) + 1
    (marker,) = [line for label, line in lines.items() if label.startswith("LM best")]
    assert list(marker.get_xdata()) == [best]
    assert f"at iteration {best}" in marker.get_label()
    # mu on a twin axis, log scale, with the recorded values
    assert len(ax.figure.axes) == 2
    mu_ax = ax.figure.axes[1]
    assert mu_ax.get_yscale() == "log"
    np.testing.assert_allclose(mu_ax.get_lines()[0].get_ydata(), model.mu_curve_)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "LM mu" in legend and "LM validation" in legend


def test_without_validation_marks_lowest_training_loss(plt):
    model, _, _ = _fit()
    ax = plot_performance(model, mu=False)
    assert len(ax.figure.axes) == 1
    labels = [line.get_label() for line in ax.get_lines()]
    assert "train" in labels and "validation" not in labels
    best = int(np.argmin(model.loss_curve_)) + 1
    assert any(label.endswith(f"at iteration {best}") for label in labels)


def test_the_marker_is_the_kept_iteration_across_warm_starts(plt):
    # a warm start whose every iteration validates worse keeps its start: the
    # marker is at best_iteration_, counted along the whole loss_curve_
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (120, 2))
    y = np.sin(3 * X[:, 0]) + 0.3 * rng.normal(size=120)
    model = LMRegressor((30,), early_stopping=True, validation_fraction=0.3, n_iter_no_change=5,
                        tol=0.0, random_state=0, warm_start=True, normalize_X=False,
                        normalize_y=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
        first_best = model.best_iteration_
        model.fit(X, y)
    # the weights kept are the first fit's best (it was counted as that fit's last)
    assert model.best_iteration_ == first_best < len(model.loss_curve_) - 5
    assert model.best_validation_loss_ == min(model.validation_loss_curve_)
    ax = plot_performance(model, mu=False)
    (marker,) = [line for line in ax.get_lines() if line.get_label().startswith("best")]
    assert list(marker.get_xdata()) == [first_best]


def test_a_validation_curve_shorter_than_the_training_one(plt):
    # early stopping switched on for a warm start: the kept iteration may lie
    # beyond the validation curve (it raised IndexError), and is marked on the
    # training curve instead
    model, X, y = _fit()
    model.set_params(warm_start=True, early_stopping=True, validation_fraction=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    assert len(model.validation_loss_curve_) < len(model.loss_curve_)
    ax = plot_performance(model, mu=False)
    (marker,) = [line for line in ax.get_lines() if line.get_label().startswith("best")]
    assert list(marker.get_xdata()) == [model.best_iteration_]


def test_draws_on_given_axes_and_looks_through_meta_estimators(plt):
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(80, 2))
    y = 10 + 5 * X[:, 0] * X[:, 1]
    model = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), LMRegressor((4,), max_iter=10, random_state=0)),
        transformer=StandardScaler(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    fig, ax = plt.subplots()
    assert plot_performance(model, ax=ax, label="a", mu=False) is ax
    assert plot_performance(model, ax=ax, label="b", mu=False) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert "a train" in labels and "b train" in labels


def test_fits_compared_on_one_axes_share_one_mu_axis(plt):
    # each call added its own twin (three axes, overlapping tick labels), every
    # mu line was grey, and the legend kept only the last fit's mu
    a, _, _ = _fit()
    b, _, _ = _fit(mu_update="trainlm")
    ax = plot_performance(a, label="nielsen")
    plot_performance(b, ax=ax, label="trainlm")
    assert len(ax.figure.axes) == 2
    mu_lines = ax.figure.axes[1].get_lines()
    assert [line.get_label() for line in mu_lines] == ["nielsen mu", "trainlm mu"]
    train = {line.get_label(): line.get_color() for line in ax.get_lines()}
    assert [line.get_color() for line in mu_lines] == [train["nielsen train"],
                                                       train["trainlm train"]]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "nielsen mu" in legend and "trainlm mu" in legend


def test_unfitted_or_foreign_estimator_is_a_clear_error(plt):
    with pytest.raises(ValueError, match="no training record"):
        plot_performance(StandardScaler())


def test_best_marker_can_be_left_out(plt):
    model, _, _ = _fit()
    ax = plot_performance(model, best=False, mu=False)
    assert [line.get_label() for line in ax.get_lines()] == ["train"]


def test_array_curves_with_nan_entries(plt):
    # Curves may be arrays, and a diverging first-order run may record NaN.
    class Record:
        loss_curve_ = np.array([4.0, np.nan, 1.0, 2.0])
        validation_loss_curve_ = np.array([np.nan, 3.0, 5.0, 0.5])
        mu_curve_ = np.full(4, np.nan)  # not recorded (first-order solver)

    ax = plot_performance(Record())
    assert len(ax.figure.axes) == 1  # no mu axis
    assert any(line.get_label().endswith("at iteration 4") for line in ax.get_lines())


def test_least_squares_result(plt):
    from sklm.optimize import least_squares

    t = np.linspace(0, 1, 20)
    res = least_squares(lambda p: p[0] * np.exp(-p[1] * t) - 2 * np.exp(-1.5 * t),
                        [1.0, 1.0], max_iter=20)
    ax = plot_performance(res, label="fit")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), res.loss_curve)
    assert len(ax.figure.axes) == 2  # LM records mu
