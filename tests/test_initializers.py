"""Initial weights: bounds and statistics of each scheme, symmetry breaking, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

from bpnet_xp.initializers import initial_parameters


def _split(theta, sizes):
    out, s = [], 0
    for a, b in zip(sizes[:-1], sizes[1:]):
        out.append((theta[s : s + a * b].reshape(a, b), theta[s + a * b : s + a * b + b]))
        s += a * b + b
    return out


def test_classic_uniform_bound_includes_biases():
    sizes = [400, 25, 10]
    theta = initial_parameters(sizes, "classic", seed=0)
    for (W, b), (n_in, n_out) in zip(_split(theta, sizes), [(400, 25), (25, 10)]):
        bound = np.sqrt(6 / (n_in + n_out))  # 0.1199 for 400-25, as in the classic exercise
        assert np.abs(W).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(W).max() > 0.9 * bound  # uses the whole interval
        # Uniform(-c, c) has variance c^2 / 3.
        assert W.var() == pytest.approx(bound**2 / 3, rel=0.1)


def test_glorot_and_he():
    sizes = [300, 200, 10]
    glorot = _split(initial_parameters(sizes, "glorot", seed=1), sizes)
    he = _split(initial_parameters(sizes, "he", seed=1), sizes)
    W, b = glorot[0]
    assert np.abs(W).max() <= np.sqrt(6 / 500) and not b.any()
    W, b = he[0]
    assert W.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02) and not b.any()


def test_auto_picks_he_for_relu():
    sizes = [50, 20, 3]
    np.testing.assert_array_equal(initial_parameters(sizes, "auto", "relu", 3), initial_parameters(sizes, "he", "relu", 3))
    np.testing.assert_array_equal(initial_parameters(sizes, "auto", "tanh", 3), initial_parameters(sizes, "classic", "tanh", 3))


@pytest.mark.parametrize("scheme", ["classic", "glorot", "he"])
def test_weights_are_never_equal(scheme):
    # Symmetry breaking: no two hidden units start with the same incoming weights.
    theta = initial_parameters([8, 16, 4], scheme, seed=0)
    W = theta[: 8 * 16].reshape(8, 16)
    assert len({tuple(col) for col in W.T}) == 16
    assert np.count_nonzero(W) == W.size


def test_seed_reproducibility_and_generator():
    a = initial_parameters([4, 5, 3], seed=7)
    np.testing.assert_array_equal(a, initial_parameters([4, 5, 3], seed=7))
    assert not np.array_equal(a, initial_parameters([4, 5, 3], seed=8))
    np.testing.assert_array_equal(a, initial_parameters([4, 5, 3], seed=np.random.default_rng(7)))


def test_custom_and_bad_initializers():
    ones = lambda rng, i, o: (np.full((i, o), 0.5), np.zeros(o))
    assert np.all(initial_parameters([2, 3], ones)[:6] == 0.5)
    with pytest.raises(ValueError, match="unknown init"):
        initial_parameters([2, 3], "zeros")
    with pytest.raises(ValueError, match="shapes"):
        initial_parameters([2, 3], lambda rng, i, o: (np.zeros((o, i)), np.zeros(o)))
