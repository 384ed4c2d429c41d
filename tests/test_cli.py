"""The command line refuses bad options before training, with one line and no traceback."""
import subprocess
import sys

import pytest


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
    (["--optimizer", "adagrad"], "argument --optimizer: invalid choice: 'adagrad'"),
    (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
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
