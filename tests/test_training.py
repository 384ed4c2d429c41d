"""fit around the core's epoch loop: schedules, validation data and split, early stopping with
restore, the accuracy metric, History, progress output, and arguments refused before training."""
import copy
import io
import math
import sys

import numpy as np
import pytest

import nncore
from nncore import training

from _helpers import DTYPES, assert_unchanged, snapshot

BACKENDS = ["cython", "numpy"]


def classifier(backend="cython", seed=0, dtype="float64", optimizer="sgd"):
    return nncore.Network([4, 8, 3], activation="tanh", loss="cross_entropy", seed=seed,
                          backend=backend, dtype=dtype, optimizer=optimizer)


def blobs(n=60, seed=0):
    """Three noisy classes in 4 dimensions; labels (n,) int."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centres = np.array([[1, 0, 0, 1], [0, 1, 0, -1], [0, 0, 1, 0]], dtype=float)
    return centres[labels] + 0.8 * rng.normal(size=(n, 4)), labels


def same_parameters(a, b):
    return all(np.array_equal(la.W, lb.W) and np.array_equal(la.b, lb.b)
               for la, lb in zip(a.layers, b.layers))


# -- schedules: the formulas ----------------------------------------------------------------------

SCHEDULES = {  # id: (schedule factory, formula(e, lr, epochs))
    "step": (lambda: nncore.StepLR(3, gamma=0.5), lambda e, lr, n: lr * 0.5 ** (e // 3)),
    "exponential": (lambda: nncore.ExponentialLR(0.9), lambda e, lr, n: lr * 0.9 ** e),
    "cosine": (lambda: nncore.CosineLR(),
               lambda e, lr, n: (1 + math.cos(math.pi * e / n)) * lr / 2),
    "cosine-Tmax": (lambda: nncore.CosineLR(T_max=4, lr_min=0.01),
                    lambda e, lr, n: 0.01 + (lr - 0.01) * (1 + math.cos(math.pi * min(e, 4) / 4))
                    / 2),
    "callable": (lambda: (lambda epoch, lr: lr * 0.8 if epoch else lr),
                 lambda e, lr, n: lr * 0.8 ** e),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_rates_follow_the_formula(name, backend):
    make, formula = SCHEDULES[name]
    X, y = blobs()
    history = classifier(backend).fit(X, y, epochs=7, lr=0.2, batch_size=16,
                                      schedule=make())
    expected = [formula(e, 0.2, 7) for e in range(7)]
    np.testing.assert_allclose(history.lr, expected, rtol=1e-15, atol=1e-17)


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_epoch_trains_at_its_scheduled_rate(backend):
    # fit with a schedule = one-epoch fits at the scheduled rates (same seeds, same Adam state)
    X, y = blobs()
    a = classifier(backend, seed=3, optimizer="adam")
    b = classifier(backend, seed=3, optimizer="adam")
    history = a.fit(X, y, epochs=5, lr=0.05, batch_size=8, schedule=nncore.StepLR(2, 0.3))
    for e in range(5):
        assert b.fit(X, y, epochs=1, lr=0.05 * 0.3 ** (e // 2), batch_size=8) == [history[e]]
    assert same_parameters(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_schedules_agree_between_backends(dtype):
    X, y = blobs()
    kw = dict(epochs=6, lr=0.05, batch_size=8, validation_split=0.25, metrics=("accuracy",))
    histories = []
    for backend in BACKENDS:
        net = classifier(backend, seed=1, dtype=np.dtype(dtype).name,
                         optimizer=nncore.RMSprop(momentum=0.5))
        histories.append(net.fit(X, y, schedule=nncore.CosineLR(), **kw))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(histories[0], histories[1], **tol)
    np.testing.assert_allclose(histories[0].val_loss, histories[1].val_loss, **tol)
    assert histories[0].lr == histories[1].lr
    assert histories[0].metrics == histories[1].metrics


def test_cosine_past_T_max_trains_at_rate_0():
    X, y = blobs()
    net = classifier()
    seen = []
    net.fit(X, y, epochs=4, lr=0.1, batch_size=16, schedule=nncore.CosineLR(T_max=2),
            callback=lambda e, loss: seen.append([ly.W.copy() for ly in net.layers]))
    assert all(np.array_equal(w2, w3) for w2, w3 in zip(seen[1], seen[3]))
    assert not np.array_equal(seen[0][0], seen[1][0])


def plateau_rates(schedule, losses, lr):
    schedule.start(lr, len(losses))
    rates = []
    for e, loss in enumerate(losses):
        rates.append(schedule.rate(e))
        schedule.observe(e, loss)
    return rates


PLATEAU_LOSSES = [1.0, 0.9, 0.95, 0.91, 0.9, 0.89999, 0.8, 0.85, 0.85, 0.85, 0.85, 0.7, 0.7,
                  0.71, 0.72, 0.73, 0.74]


def test_reduce_on_plateau_by_hand():
    # patience 2, factor 0.5, threshold 0.01: better means < best * 0.99.
    # best 1.0 (e0), 0.9 (e1); e2..e4 not better (0.9 is not < 0.891): bad = 1, 2, 3 > 2 ->
    # halve after e4; e5 (0.89999) not better: bad 1; e6 0.8 better; e7..e9 bad 1, 2, 3 ->
    # halve after e9; e10 bad 1, e11 0.7 better; e12..e14 bad 1..3 -> halve after e14
    rates = plateau_rates(nncore.ReduceLROnPlateau(factor=0.5, patience=2, threshold=0.01),
                          PLATEAU_LOSSES, 1.0)
    assert rates == [1.0] * 5 + [0.5] * 5 + [0.25] * 5 + [0.125] * 2


def test_reduce_on_plateau_matches_pytorch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, requires_grad=True)
    for kw in [dict(factor=0.5, patience=2, threshold=0.01),
               dict(factor=0.1, patience=0, threshold=1e-4, min_lr=0.02),
               dict(factor=0.3, patience=1, threshold=0.0)]:
        opt = torch.optim.SGD([p], lr=1.0)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min",
                                                           threshold_mode="rel", cooldown=0,
                                                           **kw)
        expected = []
        for loss in PLATEAU_LOSSES:
            expected.append(opt.param_groups[0]["lr"])
            sched.step(loss)
        got = plateau_rates(nncore.ReduceLROnPlateau(**kw), PLATEAU_LOSSES, 1.0)
        np.testing.assert_allclose(got, expected, rtol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_plateau_watches_the_validation_loss(backend):
    # validation targets that contradict the training ones: the validation loss rises while
    # the training loss falls, so the rate drops once patience is exhausted
    X, y = blobs()
    net = classifier(backend)
    history = net.fit(X, y, epochs=6, lr=0.1, batch_size=8,
                      validation_data=(X, (y + 1) % 3),
                      schedule=nncore.ReduceLROnPlateau(factor=0.5, patience=1))
    assert history[-1] < history[0] and history.val_loss[-1] > history.val_loss[0]
    assert history.lr == [0.1, 0.1, 0.1, 0.05, 0.05, 0.025]


# -- validation data and split --------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_validation_loss_and_accuracy_are_those_after_each_epoch(backend):
    X, y = blobs()
    Xv, yv = blobs(25, seed=9)
    net = classifier(backend)
    seen = []
    history = net.fit(X, y, epochs=4, lr=0.2, batch_size=8, validation_data=(Xv, yv),
                      metrics=["accuracy"],
                      callback=lambda e, loss: seen.append(
                          (net.loss(Xv, yv), np.mean(net.predict(X).argmax(1) == y),
                           np.mean(net.predict(Xv).argmax(1) == yv))))
    assert history.val_loss == [s[0] for s in seen]
    assert history.metrics == {"accuracy": [s[1] for s in seen],
                               "val_accuracy": [s[2] for s in seen]}
    assert history.metrics["accuracy"][-1] > 0.5


def test_accuracy_of_one_output_thresholds_at_one_half():
    net = nncore.Network([2, 1], loss="binary_cross_entropy", seed=0)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    y = np.array([[1.0], [0.0], [1.0], [0.0]])
    seen = []
    history = net.fit(X, y, epochs=2, lr=0.1, metrics=("accuracy",),
                      callback=lambda e, loss: seen.append(
                          np.mean((net.predict(X)[:, 0] >= 0.5) == (y[:, 0] == 1))))
    assert history.metrics["accuracy"] == seen


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, val = training.validation_split(100, 0.2, np.random.default_rng(0), labels)
    assert len(val) == 20 and len(train) == 80
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(100))
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    # the largest remainders get the extra examples: 0.3 * (5, 3, 2) = (1.5, 0.9, 0.6) of a
    # total of 3 gives (1, 0, 0) and one each to the classes with 0.9 and 0.6 left over
    labels = np.repeat([0, 1, 2], [5, 3, 2])
    train, val = training.validation_split(10, 0.3, np.random.default_rng(1), labels)
    assert np.bincount(labels[val], minlength=3).tolist() == [1, 1, 1]
    # the same generator state gives the same split; another gives another
    again = training.validation_split(10, 0.3, np.random.default_rng(1), labels)
    assert np.array_equal(again[1], val)
    splits = {tuple(training.validation_split(100, 0.2, np.random.default_rng(s))[1])
              for s in range(5)}
    assert len(splits) == 5


def test_class_labels_are_recognised():
    assert training.class_labels(np.eye(3)[[0, 2, 1, 1]]).tolist() == [0, 2, 1, 1]
    assert training.class_labels(np.array([[1.0], [0.0]])).tolist() == [1, 0]
    assert training.class_labels(np.array([[0.2, 0.8], [1.0, 0.0]])) is None
    assert training.class_labels(np.array([[0.5], [1.0]])) is None


@pytest.mark.parametrize("backend", BACKENDS)
def test_fit_with_validation_split_is_fit_on_the_split(backend):
    X, y = blobs(50)
    a, b = classifier(backend, seed=2), classifier(backend, seed=2)
    rng = copy.deepcopy(a._rng)
    train, val = training.validation_split(50, 0.3, rng, y)
    assert len(val) == 15
    training.validation_split(50, 0.3, b._rng, y)  # b's generator to where a's will be
    ha = a.fit(X, y, epochs=3, lr=0.1, batch_size=8, validation_split=0.3)
    hb = b.fit(X[train], y[train], epochs=3, lr=0.1, batch_size=8,
               validation_data=(X[val], y[val]))
    assert ha == hb and ha.val_loss == hb.val_loss
    assert same_parameters(a, b)


# -- early stopping -------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("restore", [True, False])
def test_early_stopping_restores_the_best_epoch(restore, backend):
    X, y = blobs()
    wrong = (y + 1) % 3   # validation that gets worse as training gets better
    net, twin = classifier(backend, seed=5), classifier(backend, seed=5)
    history = net.fit(X, y, epochs=20, lr=0.1, batch_size=8, validation_data=(X, wrong),
                      early_stopping=nncore.EarlyStopping(patience=3, restore_best=restore))
    assert history.stopped_early and len(history) == 4 and history.best_epoch == 0
    assert history.val_loss[0] == min(history.val_loss)
    twin.fit(X, y, epochs=1 if restore else 4, lr=0.1, batch_size=8)
    assert same_parameters(net, twin)
    if restore:
        assert net.loss(X, wrong) == history.val_loss[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_restores_trainable_activation_parameters(backend):
    X, y = blobs()
    layers = [nncore.Dense(4, 6, nncore.Sigmoid(c=1.1, beta=0.9, trainable=True)),
              nncore.Dense(6, 3, "softmax")]
    net = nncore.Network(layers, loss="cross_entropy", seed=0, backend=backend)
    c0, beta0 = [], []

    def record(epoch, loss):
        c0.append(layers[0].activation.c)
        beta0.append(layers[0].activation.beta)

    history = net.fit(X, y, epochs=10, lr=0.3, batch_size=8, validation_data=(X, (y + 1) % 3),
                      early_stopping=nncore.EarlyStopping(patience=2), callback=record)
    assert history.best_epoch == 0 and len(c0) == 3
    assert (layers[0].activation.c, layers[0].activation.beta) == (c0[0], beta0[0])
    assert c0[0] != c0[-1]


def test_min_delta_and_the_loss_monitor():
    X, y = blobs()
    # the training loss falls by far less than 10 per epoch: no epoch after the first improves
    history = classifier().fit(X, y, epochs=30, lr=0.01, batch_size=8,
                               early_stopping=nncore.EarlyStopping(patience=5, min_delta=10.0,
                                                                   monitor="loss"))
    assert len(history) == 6 and history.best_epoch == 0 and history.stopped_early
    history = classifier().fit(X, y, epochs=8, lr=0.01, batch_size=8,
                               early_stopping=nncore.EarlyStopping(patience=5, monitor="loss"))
    assert len(history) == 8 and history.best_epoch == 7 and not history.stopped_early


def test_val_accuracy_is_maximised():
    X, y = blobs()
    history = classifier().fit(X, y, epochs=30, lr=0.2, batch_size=8,
                               validation_data=(X, y), early_stopping=nncore.EarlyStopping(
                                   patience=4, monitor="val_accuracy"))
    acc = history.metrics["val_accuracy"]
    best = history.best_epoch
    assert acc[best] == max(acc) and acc.index(max(acc)) == best
    assert "accuracy" in history.metrics


# -- History --------------------------------------------------------------------------------------

def test_history_is_the_list_of_losses():
    X, y = blobs()
    net = classifier()
    history = net.fit(X, y, epochs=3, lr=0.1)
    assert isinstance(history, nncore.History) and isinstance(history, list)
    assert len(history) == 3 and history == history.loss and list(history) == history.loss
    assert history[-1] == history.loss[2] and history.lr == [0.1] * 3
    assert history.val_loss == [] and history.metrics == {} and not history.stopped_early
    assert history.best_epoch == int(np.argmin(history.loss))
    assert net.fit(X, y, epochs=0, lr=0.1) == []
    assert net.fit(X, y, epochs=1, lr=0.1, metrics=None).metrics == {}
    assert list(net.fit(X, y, epochs=1, lr=0.1, metrics="accuracy").metrics) == ["accuracy"]
    assert "val_loss" in repr(history)


def test_callback_stop_is_reported():
    X, y = blobs()
    history = classifier().fit(X, y, epochs=5, lr=0.1, callback=lambda e, loss: e == 1)
    assert len(history) == 2 and history.stopped_early


def test_plot_without_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    history = nncore.History([1.0, 0.5])
    with pytest.raises(ImportError, match=r'pip install "nncore-nn\[plot\]"'):
        history.plot()


def test_plot_draws_the_curves():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    X, y = blobs()
    history = classifier().fit(X, y, epochs=3, lr=0.1, validation_split=0.2,
                               metrics=("accuracy",))
    ax = history.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert "loss" in labels and "val_loss" in labels
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), history.loss)


# -- progress ------------------------------------------------------------------------------------

def test_verbose_2_prints_a_line_per_epoch(capsys):
    X, y = blobs()
    classifier().fit(X, y, epochs=3, lr=0.1, validation_split=0.2, verbose=2)
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3")
    assert "val_loss" in lines[2] and "lr 0.1" in lines[2]


def test_verbose_1_is_silent_off_a_terminal(capsys):
    X, y = blobs()
    classifier().fit(X, y, epochs=3, lr=0.1, verbose=1)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_1_draws_a_bar_on_a_terminal(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    stream = _Terminal()
    progress = training.Progress(1, 4, stream)
    for e in range(4):
        progress.update(e, {"loss": 1.0 / (e + 1), "lr": 0.1})
    progress.close()
    text = stream.getvalue()
    assert text.count("\r") == 4 and "4/4 [====================]" in text
    assert "loss 0.25" in text and text.endswith("\n")


# -- refused calls change nothing --------------------------------------------------------------

BAD_FITS = [
    (dict(schedule="linear"), ValueError),
    (dict(schedule=3), TypeError),
    (dict(early_stopping="yes"), TypeError),
    (dict(early_stopping=nncore.EarlyStopping()), ValueError),            # no validation data
    (dict(early_stopping=nncore.EarlyStopping(monitor="val_accuracy")), ValueError),
    (dict(metrics=("precision",)), ValueError),
    (dict(metrics=1), TypeError),
    (dict(verbose=3), ValueError),
    (dict(verbose=1.0), ValueError),
    (dict(validation_split=1.0), ValueError),
    (dict(validation_split=-0.1), ValueError),
    (dict(validation_split=0.001), ValueError),                            # holds out none
    (dict(validation_split="0.2"), TypeError),
    (dict(validation_split=0.2, validation_data="x"), ValueError),
    (dict(validation_data=(np.zeros((5, 3)), np.zeros(5, int))), ValueError),
    (dict(validation_data=(np.zeros((5, 4)), np.zeros(4, int))), ValueError),
    (dict(validation_data=(np.zeros((5, 4)),)), TypeError),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, error", BAD_FITS)
def test_bad_arguments_raise_before_training(kwargs, error, backend):
    X, y = blobs()
    net = classifier(backend, optimizer="adam")
    snap, rng = snapshot(net), copy.deepcopy(net._rng.bit_generator.state)
    with pytest.raises(error):
        net.fit(X, y, epochs=2, lr=0.1, **kwargs)
    assert_unchanged(net, snap)
    assert net._rng.bit_generator.state == rng and net.optimizer.step_count == 0


@pytest.mark.parametrize("make", [
    lambda: nncore.StepLR(0), lambda: nncore.StepLR(2, gamma=0.0), lambda: nncore.StepLR(2.5),
    lambda: nncore.ExponentialLR(-0.5), lambda: nncore.CosineLR(T_max=0),
    lambda: nncore.CosineLR(lr_min=-1.0), lambda: nncore.ReduceLROnPlateau(factor=1.0),
    lambda: nncore.ReduceLROnPlateau(patience=-1), lambda: nncore.ReduceLROnPlateau(threshold=-1),
    lambda: nncore.ReduceLROnPlateau(min_lr=float("nan")),
    lambda: nncore.EarlyStopping(patience=0), lambda: nncore.EarlyStopping(min_delta=-1.0),
    lambda: nncore.EarlyStopping(monitor="accuracy"),
])
def test_bad_schedule_and_early_stopping_settings_raise(make):
    with pytest.raises((ValueError, TypeError)):
        make()


@pytest.mark.parametrize("rate", [-0.1, float("nan"), "fast"])
def test_a_schedule_giving_a_bad_rate_stops_with_an_error(rate):
    X, y = blobs()
    net = classifier()
    with pytest.raises((ValueError, TypeError), match="schedule"):
        net.fit(X, y, epochs=3, lr=0.1, schedule=lambda epoch, lr: rate)
