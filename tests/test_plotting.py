"""The PNG pictures: each renders, has the expected size, is not blank, is written atomically."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

import bpnet_xp as bp  # noqa: E402
from bpnet_xp import plotting  # noqa: E402
from bpnet_xp.training import History  # noqa: E402

DPI = 100


def _check_png(path, width_inches, height_inches):
    """The file opens as an image of figsize * dpi pixels that is not a single flat colour."""
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[:2] == (round(height_inches * DPI), round(width_inches * DPI))
    assert float(image[..., :3].std()) > 0.01  # not blank
    return image


def _leftovers(directory):
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def digits_like():
    """A small 16-input (4x4 images) network with 3 classes and some labelled images."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, size=(30, 16)).astype(float)
    labels = np.arange(30) % 3
    predictions = labels.copy()
    predictions[[4, 9]] = (labels[[4, 9]] + 1) % 3  # two mistakes
    net = bp.MLP([16, 6, 3], backend="numpy", dtype="float64", seed=0)
    return net, images, labels, predictions


def test_confusion_matrix_counts():
    # true:      0 0 1 1 2 2 2
    # predicted: 0 1 1 1 2 0 2   -> row i counts true class i by predicted class
    matrix = plotting.confusion_matrix([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(plotting.confusion_matrix([1], [1], 3), [[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="n_classes"):
        plotting.confusion_matrix([0, 3], [0, 1], 3)


def test_image_shape():
    assert plotting.image_shape(64) == (8, 8)
    assert plotting.image_shape(400) == (20, 20)
    assert plotting.image_shape(65) is None and plotting.image_shape(1) is None


def test_loss_curve(tmp_path):
    history = History(loss=list(np.exp(-np.arange(40) / 8) + 0.2), val_loss=list(np.exp(-np.arange(40) / 9) + 0.3),
                      optimizer="cg")
    path = plotting.plot_loss(history, tmp_path / "loss.png")
    assert path == tmp_path / "loss.png"
    _check_png(path, 6.4, 4.0)
    # a plain dict works too, and a loss over many decades gets a log axis without failing
    path = plotting.plot_loss({"loss": list(10.0 ** -np.arange(12.0))}, tmp_path / "log.png")
    _check_png(path, 6.4, 4.0)
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="no loss"):
        plotting.plot_loss(History(), tmp_path / "empty.png")


def test_digit_grid(tmp_path, digits_like):
    _, images, labels, predictions = digits_like
    path = plotting.plot_digits(images, tmp_path / "digits.png", labels=labels, predictions=predictions,
                                classes=["a", "b", "c"], n=20, columns=10, image_shape=(4, 4))
    # 10 columns of 0.85 in + 0.2; 2 rows of 0.95 in + 0.2
    _check_png(path, 0.85 * 10 + 0.2, 0.95 * 2 + 0.2)
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_digits(np.ones((3, 10)), tmp_path / "bad.png")
    with pytest.raises(ValueError, match="image_shape"):  # a square count alone is not images
        plotting.plot_digits(images, tmp_path / "square.png")
    path = plotting.plot_digits(np.arange(30.0).reshape(3, 10), tmp_path / "rect.png", image_shape=(2, 5))
    assert path.exists()


def test_hidden_weights(tmp_path, digits_like):
    net, *_ = digits_like
    path = plotting.plot_hidden_weights(net, tmp_path / "weights.png", image_shape=(4, 4))
    # 6 units -> 3 columns x 2 rows of 1.1 in, plus margins
    _check_png(path, 1.1 * 3 + 0.3, 1.1 * 2 + 0.6)
    with pytest.raises(ValueError, match="no hidden layer"):
        plotting.plot_hidden_weights(bp.MLP([16, 3], backend="numpy"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="image_shape"):
        plotting.plot_hidden_weights(bp.MLP([10, 4, 3], backend="numpy"), tmp_path / "x.png")
    with pytest.raises(ValueError, match="does not hold"):
        plotting.plot_hidden_weights(net, tmp_path / "x.png", image_shape=(3, 5))


def test_hidden_weights_show_the_weights(tmp_path):
    # One hidden unit whose incoming weights are +1 on the left half of a 4x4 image and -1 on
    # the right: the picture must show two colours, red on the left and blue on the right.
    net = bp.MLP([16, 1, 2], backend="numpy", dtype="float64", seed=0)
    theta = np.array(net.theta, copy=True)
    theta[:16] = np.tile([1.0, 1.0, -1.0, -1.0], 4)
    net.theta = theta
    image = imread(plotting.plot_hidden_weights(net, tmp_path / "w.png", image_shape=(4, 4)))[..., :3]
    red = (image[..., 0] > 0.3) & (image[..., 2] < 0.15)
    blue = (image[..., 2] > 0.3) & (image[..., 0] < 0.15)
    assert red.any() and blue.any()
    assert np.mean(np.nonzero(red)[1]) < np.mean(np.nonzero(blue)[1])  # red left of blue


def test_confusion_matrix_picture(tmp_path):
    matrix = np.array([[40, 2, 0], [1, 45, 0], [0, 3, 39]])
    path = plotting.plot_confusion_matrix(matrix, tmp_path / "cm.png", labels=["x", "y", "z"])
    size = max(3.5, 0.55 * 3 + 1.8)
    _check_png(path, size, size)
    with pytest.raises(ValueError, match="square"):
        plotting.plot_confusion_matrix(np.ones((2, 3)), tmp_path / "bad.png")


def test_plot_all_writes_four_pictures(tmp_path, digits_like):
    net, images, labels, predictions = digits_like
    history = History(loss=[1.0, 0.5, 0.3], val_loss=[1.1, 0.7, 0.5], optimizer="adam")
    out = tmp_path / "plots"
    written = plotting.plot_all(out, net, history=history, images=images, labels=labels, predictions=predictions,
                                image_shape=(4, 4))
    assert list(written) == ["loss", "digits", "hidden_weights", "confusion_matrix"]
    for path in written.values():
        assert path.parent == out
        image = imread(path)
        assert image.shape[0] > 100 and image.shape[1] > 100
        assert float(image[..., :3].std()) > 0.01
    assert _leftovers(out) == []


def test_plot_all_skips_what_does_not_apply(tmp_path):
    net = bp.MLP([3, 4, 1], loss="mse", output="identity", backend="numpy", seed=0)
    written = plotting.plot_all(tmp_path, net, history=History(loss=[2.0, 1.0]), images=np.ones((5, 3)))
    assert list(written) == ["loss"]  # no images (3 inputs), regression: no confusion matrix


def test_failed_render_keeps_old_picture(tmp_path, monkeypatch):
    path = tmp_path / "loss.png"
    plotting.plot_loss({"loss": [3.0, 2.0, 1.0]}, path)
    before = path.read_bytes()
    from matplotlib.figure import Figure

    def broken(self, *args, **kwargs):
        args[0].write(b"\x89PNG half")
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(RuntimeError):
        plotting.plot_loss({"loss": [5.0, 1.0]}, path)
    assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"pip install 'bpnet_xp\[plot\]'"):
        plotting.plot_loss({"loss": [1.0, 0.5]}, tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()


def test_plotting_never_uses_pyplot(tmp_path):
    import subprocess

    code = (
        "import sys, numpy as np\n"
        "from bpnet_xp import plotting\n"
        f"plotting.plot_loss({{'loss': [2.0, 1.0]}}, {str(tmp_path / 'l.png')!r})\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_square_tabular_features_are_not_drawn_as_images(tmp_path):
    # 4 tabular features (a square count) must not become 2x2 "images" without image_shape.
    net = bp.MLP([4, 3, 3], backend="numpy", seed=0)
    rows = np.random.default_rng(0).normal(size=(12, 4))
    labels = np.arange(12) % 3
    written = plotting.plot_all(tmp_path, net, images=rows, labels=labels, predictions=labels)
    assert list(written) == ["confusion_matrix"]


def test_the_bundled_digits_are_recognised_as_images(tmp_path):
    from bpnet_xp.datasets import load_digits

    X, y = load_digits()
    assert plotting.bundled_image_shape(X[:50]) == (8, 8)
    assert plotting.bundled_image_shape(X[:50] + 0.5) is None  # other 64-feature data: not images
    net = bp.MLP([64, 4, 10], backend="numpy", seed=0)
    written = plotting.plot_all(tmp_path, net, images=X[:40], labels=y[:40], predictions=y[:40])
    assert list(written) == ["digits", "hidden_weights", "confusion_matrix"]


def test_pictures_draw_into_a_given_axes_and_return_the_figure(digits_like):
    from matplotlib.figure import Figure

    net, images, labels, predictions = digits_like
    fig = Figure()
    left, right = fig.subplots(1, 2)
    history = History(loss=[1.0, 0.5, 0.25], optimizer="adam")
    assert plotting.plot_loss(history, ax=left) is fig
    line = left.get_lines()[0]
    np.testing.assert_array_equal(line.get_ydata(), [1.0, 0.5, 0.25])  # the curve drawn is the history
    assert plotting.plot_confusion_matrix(np.eye(3, dtype=int) * 4, ax=right) is fig
    grid = Figure()
    assert plotting.plot_digits(images, ax=grid.add_subplot(), image_shape=(4, 4), n=6, columns=3) is grid
    assert len(grid.axes) == 6  # the grid took the Axes' place
    alone = plotting.plot_hidden_weights(net, image_shape=(4, 4))
    assert isinstance(alone, Figure)
    png = alone._repr_png_()  # what IPython shows inline
    assert png.startswith(b"\x89PNG")


def test_history_to_frame_and_plot():
    pd = pytest.importorskip("pandas")
    history = History(loss=[3.0, 2.0, 1.0], val_loss=[3.5, 2.5], time=[0.1, 0.2, 0.3], optimizer="cg")
    frame = history.to_frame()
    assert isinstance(frame, pd.DataFrame) and frame.index.name == "iteration"
    assert list(frame.index) == [1, 2, 3]
    np.testing.assert_array_equal(frame["loss"], [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(frame["val_loss"], [3.5, 2.5, np.nan])  # padded, not shifted
    assert "val_score" not in frame.columns
    assert History(loss=[1.0], time=[0.0], optimizer="adam").to_frame().index.name == "epoch"
    fig = history.plot()
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_ydata(), [3.0, 2.0, 1.0])
