"""The command line refuses bad options before training, with one line and no traceback."""
import re
import subprocess
import sys

import pytest

# (see the "once" marker in pyproject.toml)
pytestmark = pytest.mark.once


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "nncore", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("args, message", [
    (["--lr", "-1"], "argument --lr: must lie in (0, inf), got -1"),
    (["--lr", "nan"], "argument --lr: must lie in (0, inf), got nan"),
    (["--hidden", "0"], "argument --hidden: must lie in [1, inf), got 0"),
    (["--epochs", "abc"], "argument --epochs: not an integer: 'abc'"),
    (["--test-fraction", "1"], "argument --test-fraction: must lie in (0, 1), got 1"),
])
def test_bad_options_are_refused_before_training(args, message):
    result = run("train", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "epoch" not in result.stdout


def test_a_test_fraction_that_leaves_an_empty_side_is_refused_before_training():
    result = run("train", "--test-fraction", "0.0002")
    assert result.returncode == 2
    assert "holds out 0 of the 1797 examples" in result.stderr
    assert "epoch" not in result.stdout


def test_a_failed_save_is_an_error_not_a_traceback(tmp_path):
    result = run("train", "--epochs", "1", "--save", str(tmp_path / "missing" / "model"))
    assert result.returncode == 1
    assert "nncore: error: FileNotFoundError" in result.stderr
    assert "Traceback" not in result.stderr


def test_save_reports_the_file_numpy_wrote(tmp_path):
    result = run("train", "--epochs", "1", "--save", str(tmp_path / "model"))
    assert result.returncode == 0
    assert f"saved to {tmp_path / 'model.npz'}" in result.stdout
    assert (tmp_path / "model.npz").exists()


def test_train_with_adam_a_cosine_schedule_and_early_stopping():
    result = run("train", "--epochs", "20", "--optimizer", "adam", "--lr", "0.003",
                 "--schedule", "cosine", "--validation-split", "0.2", "--patience", "3")
    assert result.returncode == 0, result.stderr
    assert "optimizer: Adam(" in result.stdout
    assert "validation loss: best" in result.stdout
    accuracy = float(result.stdout.split("held-out accuracy:")[1])
    assert accuracy > 0.9


@pytest.mark.parametrize("args, message", [
    (["--patience", "3"], "--patience stops on the validation loss: give --validation-split"),
    (["--optimizer", "adagrad"], "argument --optimizer: unknown optimizer 'adagrad'"),
    (["--optimizer", "adma"], "argument --optimizer: unknown optimizer 'adma'; did you mean "
                              "'adam'?"),
    (["--schedule", "linear"], "argument --schedule: unknown schedule 'linear'"),
    (["--validation-split", "1"], "argument --validation-split: must lie in [0, 1), got 1"),
    (["--patience", "0"], "argument --patience: must lie in [1, inf), got 0"),
])
def test_bad_training_options_are_refused_before_training(args, message):
    result = run("train", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "epoch" not in result.stdout


def test_plot_without_matplotlib_is_refused_before_training(tmp_path):
    try:
        import matplotlib  # noqa: F401
        pytest.skip("matplotlib is installed")
    except ImportError:
        pass
    result = run("train", "--plot", str(tmp_path / "curves.png"))
    assert result.returncode == 2
    assert "--plot needs matplotlib: pip install matplotlib" in result.stderr
    assert 'pip install "nncore-nn[plot]"' in result.stderr
    assert "epoch" not in result.stdout


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    result = run("train", "--epochs", "3", "--validation-split", "0.2", "--plot", str(path))
    assert result.returncode == 0, result.stderr
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the user's data (in-process, through cli.main) ------------------------------------------

import csv  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402

import nncore  # noqa: E402
from nncore import cli  # noqa: E402


def _r(value):
    """A number as CSV text that reads back exactly."""
    return repr(float(value))


def main(capsys, *args):
    """(exit status, stdout, stderr) of ``nncore ARGS``, run in this process."""
    status = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def blobs(n=240, seed=0):
    """Three well separated classes named by strings, in columns on different scales."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    X = centres[y] + rng.normal(size=(n, 2))
    X[:, 1] *= 100   # a column on another scale: what --standardize is for
    names = np.array(["ant", "bee", "cat"])[y]
    return X, y, names


@pytest.fixture
def iris_like(tmp_path):
    X, y, names = blobs()
    path = write_csv(tmp_path / "train.csv", ["width", "height", "kind"],
                     [[_r(a), _r(b), n] for (a, b), n in zip(X, names)])
    return path, X, y, names


def test_train_predict_evaluate_info_on_a_csv_with_string_labels(tmp_path, capsys, iris_like):
    path, X, y, names = iris_like
    model = tmp_path / "model"
    status, out, err = main(capsys, "train", path, "--target", "kind", "--standardize",
                            "--epochs", "20", "--seed", "1", "--save", model)
    assert status == 0, err
    assert "target 'kind': 3 classes" in out
    accuracy = float(out.split("held-out accuracy:")[1].split()[0])
    assert accuracy > 0.9
    # a plain saved Network: nncore.Network.load reads it
    net = nncore.Network.load(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz") as f:
        meta = json.loads(str(f["config"]))["meta"]
    assert meta["columns"] == ["width", "height"] and meta["classes"] == ["ant", "bee", "cat"]
    mean, std = np.asarray(meta["mean"]), np.asarray(meta["std"])
    train_rows, _ = cli.split_rows(len(X), 0.2, 1)   # the scaling of the training rows only
    np.testing.assert_allclose(mean, X[train_rows].mean(0), rtol=1e-12)
    np.testing.assert_allclose(std, X[train_rows].std(0), rtol=1e-12)
    assert not np.allclose(mean, X.mean(0), rtol=1e-6)
    P = net.predict((X - mean) / std)
    # predict: the class names
    status, out, err = main(capsys, "predict", tmp_path / "model.npz", path)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "kind"
    assert lines[1:] == list(np.array(["ant", "bee", "cat"])[P.argmax(axis=1)])
    # predict --proba -o: one column per class
    status, out, err = main(capsys, "predict", tmp_path / "model.npz", path, "--proba",
                            "-o", tmp_path / "p.csv")
    assert status == 0, err
    got = np.loadtxt(tmp_path / "p.csv", delimiter=",", skiprows=1)
    assert open(tmp_path / "p.csv").readline().strip() == "ant,bee,cat"
    np.testing.assert_array_equal(got, P)
    # evaluate: net.evaluate's metrics
    status, out, err = main(capsys, "evaluate", tmp_path / "model.npz", path)
    assert status == 0, err
    expected = net.evaluate((X - mean) / std, y, ["accuracy", "f1", "log_loss"])
    for name, value in expected.items():
        assert f"{name}: {value:.6g}" in out
    # info: the summary and the data's record
    status, out, err = main(capsys, "info", tmp_path / "model.npz")
    assert status == 0, err
    assert "total parameters: 387" in out     # 2*64+64 + 64*3+3
    assert "classes: ant, bee, cat" in out and "features: width, height" in out


def test_regression_on_a_csv_predicts_in_the_targets_units(tmp_path, capsys):
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    t = 1000 + 50 * X[:, 0] - 20 * X[:, 1]
    path = write_csv(tmp_path / "r.csv", ["a", "b", "c", "price"],
                     [[*map(_r, x), _r(v)] for x, v in zip(X, t)])
    model = tmp_path / "r.npz"
    status, out, err = main(capsys, "train", path, "--standardize", "--epochs", "30",
                            "--save", model)
    assert status == 0, err
    assert "target 'price': a regression" in out
    assert float(out.split("held-out r2:")[1].split()[0]) > 0.9
    status, out, err = main(capsys, "predict", model, path)
    assert status == 0, err
    pred = np.array(out.splitlines()[1:], dtype=float)
    assert out.splitlines()[0] == "price"
    net = nncore.Network.load(model)
    with np.load(model) as f:
        meta = json.loads(str(f["config"]))["meta"]
    Xs = (X - meta["mean"]) / np.asarray(meta["std"])
    np.testing.assert_allclose(pred, net.predict(Xs)[:, 0] * meta["y_std"] + meta["y_mean"],
                               rtol=1e-15)
    status, out, err = main(capsys, "evaluate", model, path)
    assert status == 0, err
    r2 = float(out.split("r2:")[1].split()[0])
    assert r2 == pytest.approx(sk.r2_score(t, pred), rel=1e-5)
    rmse = float(out.split("rmse:")[1].split()[0])
    assert rmse == pytest.approx(sk.root_mean_squared_error(t, pred), rel=1e-5)


def test_init_option_reaches_every_layer(tmp_path, capsys, monkeypatch):
    built = []
    real = cli.Network

    def spy(*args, **kwargs):
        net = real(*args, **kwargs)
        built.append(net)
        return net

    monkeypatch.setattr(cli, "Network", spy)
    status, _, err = main(capsys, "train", "--epochs", "1", "--init", "zeros",
                          "--hidden", "8")
    assert status == 0, err
    assert [ly.init for ly in built[0].layers] == ["zeros", "zeros"]


def test_task_from_the_targets_values_or_the_flag(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    ints = write_csv(tmp_path / "i.csv", ["a", "b", "y"],
                     [[_r(a), _r(b), str(int(a > 0))] for a, b in X])
    status, out, _ = main(capsys, "train", ints, "--epochs", "1")
    assert status == 0 and "target 'y': 2 classes" in out
    status, out, _ = main(capsys, "train", ints, "--epochs", "1", "--task", "regression")
    assert status == 0 and "target 'y': a regression" in out
    floats = write_csv(tmp_path / "f.csv", ["a", "b", "y"],
                       [[_r(a), _r(b), _r(a * 3.5)] for a, b in X])
    status, out, _ = main(capsys, "train", floats, "--epochs", "1")
    assert status == 0 and "a regression" in out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_train_on_npy_and_npz(tmp_path, capsys, dtype):
    X, y, _ = blobs(seed=2)
    np.save(tmp_path / "d.npy", np.c_[y, X])           # the target in column 0
    np.savez(tmp_path / "d.npz", X=X, label=y)
    status, out, err = main(capsys, "train", tmp_path / "d.npy", "--target", "0",
                            "--standardize", "--epochs", "10", "--dtype", dtype,
                            "--save", tmp_path / "m1")
    assert status == 0, err
    assert "2 features; target 'column 0': 3 classes" in out
    status, out, err = main(capsys, "train", tmp_path / "d.npz", "--target", "label",
                            "--standardize", "--epochs", "10", "--dtype", dtype,
                            "--save", tmp_path / "m2")
    assert status == 0, err
    assert float(out.split("held-out accuracy:")[1].split()[0]) > 0.9
    # predict on the features alone, or with the target column where it was
    status, out1, _ = main(capsys, "predict", tmp_path / "m1.npz", tmp_path / "d.npy")
    np.save(tmp_path / "f.npy", X)
    status2, out2, _ = main(capsys, "predict", tmp_path / "m1.npz", tmp_path / "f.npy")
    assert status == status2 == 0 and out1 == out2
    status, out, _ = main(capsys, "evaluate", tmp_path / "m2.npz", tmp_path / "d.npz")
    assert status == 0 and float(out.split("accuracy:")[1].split()[0]) > 0.9


def test_the_digits_stay_the_default_and_their_model_predicts(tmp_path, capsys):
    status, out, err = main(capsys, "train", "--epochs", "2", "--save", tmp_path / "digits")
    assert status == 0, err
    assert "digits: 1438 training, 359 held-out examples" in out
    X, y = nncore.load_digits()
    np.save(tmp_path / "x.npy", X[:50])
    status, out, err = main(capsys, "predict", tmp_path / "digits.npz", tmp_path / "x.npy")
    assert status == 0, err
    net = nncore.Network.load(tmp_path / "digits.npz")
    assert out.splitlines()[1:] == [str(c) for c in net.predict(X[:50] / 16).argmax(1)]


def test_a_network_saved_from_python_predicts_from_an_array(tmp_path, capsys):
    net = nncore.Network([3, 2], loss="mse", seed=0)
    net.save(tmp_path / "py.npz")
    X = np.arange(12.0).reshape(4, 3)
    np.save(tmp_path / "x.npy", X)
    status, out, err = main(capsys, "predict", tmp_path / "py.npz", tmp_path / "x.npy")
    assert status == 0, err
    assert out.splitlines()[0] == "y0,y1"
    np.testing.assert_array_equal(np.loadtxt(out.splitlines()[1:], delimiter=","),
                                  net.predict(X))


@pytest.mark.parametrize("rows, message", [
    ([["1", "2", "a"], ["x", "2", "b"]], r"bad\.csv, line 3, column 'p': 'x' is not a number"),
    ([["1", "2", "a"], ["1", "", "b"]], r"line 3, column 'q': empty \(a missing value\)"),
    ([["nan", "2", "a"], ["1", "2", "b"]], r"line 2, column 'p': 'nan' is not finite"),
    ([["1", "2", "a"], ["1", "2"]], r"bad\.csv, line 3: 2 fields, but the header names 3"),
    ([["1", "2", "a"], ["1", "2", " "]], r"line 3, column 'label': the target is empty"),
    ([["1", "2", "a"]] * 3 + [["1", "2e", "b"]], r"line 5, column 'q': '2e' is not a number"),
])
def test_bad_fields_are_named_by_file_line_and_column(tmp_path, capsys, rows, message):
    path = write_csv(tmp_path / "bad.csv", ["p", "q", "label"], rows)
    status, out, err = main(capsys, "train", path, "--epochs", "1")
    assert status == 2
    assert re.search(message, err), err
    assert "epoch" not in out


@pytest.mark.parametrize("args, message", [
    (["--target", "Label"], r"has no column 'Label'; did you mean 'label'\?"),
    (["--target", "lable"], r"has no column 'lable'; did you mean 'label'\?"),
    (["--task", "regression"], r"line 2, column 'label': 'a' is not a number"),
    (["--epochs", "0"], r"argument --epochs: must lie in \[1, inf\), got 0"),
    (["--activation", "softmax"], r"argument --activation: invalid choice: 'softmax'"),
    (["--init", "he"], r"argument --init: unknown init 'he'"),
    (["--activation", "rellu"], r"argument --activation: unknown activation 'rellu'; did you "
                                r"mean 'relu'\?"),
])
def test_bad_options_on_data_are_refused_before_training(tmp_path, capsys, args, message):
    path = write_csv(tmp_path / "d.csv", ["p", "q", "label"], [["1", "2", "a"], ["3", "4", "b"]])
    try:
        status, out, err = main(capsys, "train", path, *args)
    except SystemExit as exc:       # argparse refuses
        status = exc.code
        out, err = capsys.readouterr()
    assert status == 2
    assert re.search(message, err), err
    assert "epoch" not in out


def test_unknown_formats_and_files(tmp_path, capsys):
    (tmp_path / "d.txt").write_text("a,b\n1,2\n")
    status, _, err = main(capsys, "train", tmp_path / "d.txt")
    assert status == 2 and "unknown data format '.txt'" in err
    status, _, err = main(capsys, "train", tmp_path / "missing.csv")
    assert status == 1 and "FileNotFoundError" in err
    (tmp_path / "e.csv").write_text("")
    status, _, err = main(capsys, "train", tmp_path / "e.csv")
    assert status == 2 and "is empty" in err


def test_evaluate_names_a_label_the_model_does_not_know(tmp_path, capsys, iris_like):
    path, X, y, names = iris_like
    main(capsys, "train", path, "--epochs", "1", "--save", tmp_path / "m")
    rows = [[_r(a), _r(b), n] for (a, b), n in zip(X[:5], names[:5])] + [["1", "2", "dog"]]
    other = write_csv(tmp_path / "new.csv", ["height", "width", "kind"], rows)
    status, _, err = main(capsys, "evaluate", tmp_path / "m.npz", other)
    assert status == 2
    assert "new.csv, line 7, column 'kind': 'dog' is not one of the model's classes" in err
    missing = write_csv(tmp_path / "few.csv", ["width", "kind"], [["1", "ant"]])
    status, _, err = main(capsys, "predict", tmp_path / "m.npz", missing)
    assert status == 2 and "lacks the column 'height' that the model was trained on" in err


def test_columns_are_read_by_name_in_any_order(tmp_path, capsys, iris_like):
    path, X, y, names = iris_like
    main(capsys, "train", path, "--standardize", "--epochs", "3", "--save", tmp_path / "m")
    swapped = write_csv(tmp_path / "s.csv", ["extra", "height", "width"],
                        [["0", _r(b), _r(a)] for a, b in X])
    _, a, _ = main(capsys, "predict", tmp_path / "m.npz", path)
    status, b, err = main(capsys, "predict", tmp_path / "m.npz", swapped)
    assert status == 0, err
    assert a == b


@pytest.mark.parametrize("option", ["--save", "--plot"])
def test_output_paths_are_checked_before_training(tmp_path, capsys, option):
    pytest.importorskip("matplotlib")
    status, out, err = main(capsys, "train", option, tmp_path / "nowhere" / "f")
    assert status == 1
    assert f"{option} " in err and "does not exist" in err
    assert "epoch" not in out
    folder = tmp_path / "out.npz"
    folder.mkdir()
    status, out, err = main(capsys, "train", option, folder)
    assert status == 1 and "is a folder" in err and "epoch" not in out


def test_predict_checks_its_output_before_reading(tmp_path, capsys):
    status, _, err = main(capsys, "predict", tmp_path / "no-model.npz", tmp_path / "x.npy",
                          "-o", tmp_path / "nowhere" / "p.csv")
    assert status == 1 and "-o" in err and "does not exist" in err


def test_the_plot_uses_a_log_axis_when_the_loss_spans_decades(tmp_path):
    pytest.importorskip("matplotlib")
    assert cli.loss_axis_scale([2.3, 0.5, 0.01]) == "log"
    assert cli.loss_axis_scale([2.3, 0.5, 0.1]) == "linear"
    assert cli.loss_axis_scale([0.0, 1.0]) == "linear"
    history = nncore.History([5.0, 0.2, 0.01])
    assert cli.save_plot(history, tmp_path / "a.png", "t") == "log"
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.save_plot(nncore.History([1.0, 0.9]), tmp_path / "b.png", "t") == "linear"


def test_the_models_record_is_checked_and_leaves_load_as_it_was(tmp_path):
    from nncore import io
    net = nncore.Network([3, 2], loss="mse", seed=0)
    with pytest.raises(TypeError, match="meta must be a dict"):
        io.save(net, tmp_path / "m", meta=["not", "a", "dict"])
    assert not (tmp_path / "m.npz").exists()
    io.save(net, tmp_path / "m", meta={"format": "something else"})
    loaded = nncore.Network.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.layers[0].W, net.layers[0].W)
    # the command line refuses a record that is not its own
    assert cli.main(["info", str(tmp_path / "m.npz")]) == 2
    # load refuses a "meta" that is not an object
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f.items())
    config = json.loads(str(arrays["config"]))
    config["meta"] = 5
    arrays["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="'meta' is a JSON int, not an object"):
        nncore.Network.load(tmp_path / "bad.npz")
