"""Stochastic optimizers, learning-rate schedules and the plateau against hand-computed updates.

Every expected value is computed here independently, with NumPy float64 written
out from the published update rules (or as literal numbers worked by hand), and
compared with the optimizer running on each backend.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from array_api_compat import device as device_of

from bpnet_xp import optimizers as opt
from bpnet_xp import schedules
from bpnet_xp.backend import to_numpy

THETA = np.array([1.0, -2.0, 3.0, 0.5])
GRAD1 = np.array([0.5, 0.25, -1.0, 0.0])
GRAD2 = np.array([-0.3, 0.5, 2.0, 1e-3])


def _dtype(backend):
    return "float64" if backend.has_float64 else "float32"


def _tol(backend):
    return dict(rtol=1e-13, atol=1e-15) if backend.has_float64 else dict(rtol=1e-6, atol=1e-7)


def _on(backend, values):
    return backend.asarray(values, dtype=_dtype(backend))


def _assert_on_device(backend, x):
    assert backend.is_native(x)
    assert backend.same_device(x), f"{device_of(x)} is not {backend.device}"


# ---------------------------------------------------------------------------------------
# SGD


def test_sgd_plain_step_equals_hand_computation(backend):
    optimizer = opt.sgd(learning_rate=0.1)
    theta = _on(backend, THETA)
    state = optimizer.init(theta)
    assert state.count == 0 and state.velocity is None  # no momentum: no buffer allocated
    updates, state = optimizer.update(_on(backend, GRAD1), state, theta)
    # -0.1 * [0.5, 0.25, -1, 0] = [-0.05, -0.025, 0.1, 0]
    np.testing.assert_allclose(to_numpy(updates), [-0.05, -0.025, 0.1, 0.0], **_tol(backend))
    new_theta = opt.apply_updates(theta, updates)
    # [1, -2, 3, 0.5] + updates = [0.95, -2.025, 3.1, 0.5]
    np.testing.assert_allclose(to_numpy(new_theta), [0.95, -2.025, 3.1, 0.5], **_tol(backend))
    _assert_on_device(backend, new_theta)
    assert state.count == 1


@pytest.mark.parametrize("nesterov", [False, True], ids=["momentum", "nesterov"])
def test_sgd_momentum_two_steps_equal_hand_computation(backend, nesterov):
    lr, mu = 0.1, 0.9
    optimizer = opt.sgd(learning_rate=lr, momentum=mu, nesterov=nesterov)
    theta = _on(backend, THETA)
    state = optimizer.init(theta)
    _assert_on_device(backend, state.velocity)

    # Reference, NumPy float64 (Sutskever et al. 2013 form):
    #   v <- mu v - lr g ; update = v (classical) or mu v - lr g (Nesterov)
    v = np.zeros(4)
    expected_theta = THETA.copy()
    for g in (GRAD1, GRAD2):
        v = mu * v - lr * g
        expected_update = mu * v - lr * g if nesterov else v
        expected_theta = expected_theta + expected_update

        updates, state = optimizer.update(_on(backend, g), state, theta)
        theta = opt.apply_updates(theta, updates)
        np.testing.assert_allclose(to_numpy(updates), expected_update, **_tol(backend))
        np.testing.assert_allclose(to_numpy(state.velocity), v, **_tol(backend))
    np.testing.assert_allclose(to_numpy(theta), expected_theta, **_tol(backend))
    assert state.count == 2
    _assert_on_device(backend, theta)


def test_sgd_first_momentum_step_literal(backend):
    # With v0 = 0 the first classical-momentum step is plain SGD: -0.1 * g.
    # The first Nesterov step is (mu + 1) times it: v1 = -0.1 g, update = 0.9 v1 - 0.1 g = -0.19 g.
    g = _on(backend, GRAD1)
    theta = _on(backend, THETA)
    classical = opt.sgd(0.1, momentum=0.9)
    nesterov = opt.sgd(0.1, momentum=0.9, nesterov=True)
    u_classical, _ = classical.update(g, classical.init(theta), theta)
    u_nesterov, _ = nesterov.update(g, nesterov.init(theta), theta)
    np.testing.assert_allclose(to_numpy(u_classical), [-0.05, -0.025, 0.1, 0.0], **_tol(backend))
    np.testing.assert_allclose(to_numpy(u_nesterov), [-0.095, -0.0475, 0.19, 0.0], **_tol(backend))


# ---------------------------------------------------------------------------------------
# Adam


def test_adam_two_steps_equal_hand_computation(backend):
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    optimizer = opt.adam(learning_rate=lr, beta1=b1, beta2=b2, epsilon=eps)
    theta = _on(backend, THETA)
    state = optimizer.init(theta)
    assert state.count == 0
    _assert_on_device(backend, state.mu)
    _assert_on_device(backend, state.nu)

    # Reference, NumPy float64, Kingma & Ba (2015) Algorithm 1.
    m = np.zeros(4)
    v = np.zeros(4)
    expected_theta = THETA.copy()
    for t, g in enumerate((GRAD1, GRAD2), start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        expected_update = -lr * m_hat / (np.sqrt(v_hat) + eps)
        expected_theta = expected_theta + expected_update

        updates, state = optimizer.update(_on(backend, g), state, theta)
        theta = opt.apply_updates(theta, updates)
        np.testing.assert_allclose(to_numpy(updates), expected_update, **_tol(backend))
        np.testing.assert_allclose(to_numpy(state.mu), m, **_tol(backend))
        np.testing.assert_allclose(to_numpy(state.nu), v, **_tol(backend))
        assert state.count == t
    np.testing.assert_allclose(to_numpy(theta), expected_theta, **_tol(backend))
    _assert_on_device(backend, theta)


def test_adam_first_step_is_learning_rate_times_sign(backend):
    # Bias correction makes m_hat = g and v_hat = g**2 at t = 1, so the first update
    # is -lr * g / (|g| + eps): -lr * sign(g) up to eps (0 where g = 0).
    # For g = 0.5: -0.01 * 0.5 / (0.5 + 1e-8) = -0.01 / (1 + 2e-8).
    optimizer = opt.adam(learning_rate=0.01)
    theta = _on(backend, THETA)
    updates, _ = optimizer.update(_on(backend, GRAD1), optimizer.init(theta), theta)
    expected = [-0.01 / (1 + 2e-8), -0.01 / (1 + 4e-8), 0.01 / (1 + 1e-8), 0.0]
    np.testing.assert_allclose(to_numpy(updates), expected, **_tol(backend))


def test_adam_second_step_bias_correction_literal():
    # Scalar case worked by hand, g1 = 1, g2 = -1, beta1 = 0.5, beta2 = 0.75, lr = 1, eps = 0:
    # step 2: m = 0.5*0.5 + 0.5*(-1) = -0.25,  m_hat = -0.25 / (1 - 0.25) = -1/3
    #         v = 0.75*0.25 + 0.25*1 = 0.4375, v_hat = 0.4375 / (1 - 0.5625) = 1
    #         update = -1 * (-1/3) / 1 = 1/3
    optimizer = opt.adam(learning_rate=1.0, beta1=0.5, beta2=0.75, epsilon=1e-300)
    theta = np.zeros(1)
    state = optimizer.init(theta)
    _, state = optimizer.update(np.ones(1), state, theta)
    updates, state = optimizer.update(-np.ones(1), state, theta)
    np.testing.assert_allclose(updates, [1 / 3], rtol=1e-15)


# ---------------------------------------------------------------------------------------
# Schedules


def test_schedule_values_equal_hand_computation():
    c = schedules.constant(0.3)
    assert [c(k) for k in (0, 1, 100)] == [0.3, 0.3, 0.3]

    inv = schedules.inverse_scaling(0.1, power=0.5)
    # 0.1 / sqrt(1), 0.1 / sqrt(4), 0.1 / sqrt(100)
    np.testing.assert_allclose([inv(0), inv(3), inv(99)], [0.1, 0.05, 0.01], rtol=1e-15)
    inv1 = schedules.inverse_scaling(1.0, power=1.0)
    np.testing.assert_allclose([inv1(0), inv1(1), inv1(4)], [1.0, 0.5, 0.2], rtol=1e-15)

    step = schedules.step_decay(0.8, factor=0.5, every=3)
    # counts 0-2: 0.8; 3-5: 0.4; 6-8: 0.2; 9: 0.1
    assert [step(k) for k in range(10)] == [0.8] * 3 + [0.4] * 3 + [0.2] * 3 + [0.1]


def test_schedule_drives_the_optimizer(backend):
    # step_decay(1.0, 0.5, every=1): the k-th update (count k) uses 0.5**k.
    optimizer = opt.sgd(learning_rate=schedules.step_decay(1.0, factor=0.5, every=1))
    theta = _on(backend, THETA)
    state = optimizer.init(theta)
    g = _on(backend, GRAD1)
    for k, rate in enumerate([1.0, 0.5, 0.25]):
        updates, state = optimizer.update(g, state, theta)
        np.testing.assert_allclose(to_numpy(updates), -rate * GRAD1, **_tol(backend))
        assert state.count == k + 1
    # A plain callable is a schedule too.
    optimizer = opt.adam(learning_rate=lambda count: 0.5 / (count + 1))
    state = optimizer.init(theta)
    _, state = optimizer.update(g, state, theta)
    updates, _ = optimizer.update(g, state, theta)
    # Constant g: m_hat = g, v_hat = g**2, so the update is -lr * g / (|g| + eps) with lr = 0.25.
    expected = -0.25 * GRAD1 / (np.abs(GRAD1) + 1e-8)
    np.testing.assert_allclose(to_numpy(updates), expected, **_tol(backend))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_scaled_schedule_multiplies_the_learning_rate(backend, name):
    # The plateau's multiplier reaches the update through the schedule, not through update().
    theta = _on(backend, THETA)
    g = _on(backend, GRAD1)
    full_rate = opt.get_optimizer(name, learning_rate=0.2)
    half_rate = opt.get_optimizer(name, learning_rate=schedules.scaled(schedules.constant(0.2), 0.5))
    full, _ = full_rate.update(g, full_rate.init(theta), theta)
    half, _ = half_rate.update(g, half_rate.init(theta), theta)
    # The same optimizer with learning_rate 0.1, computed by hand: sgd -0.1 g; adam first
    # step -0.1 g / (|g| + eps).
    if name == "sgd":
        expected_half = -0.1 * GRAD1
    else:
        expected_half = -0.1 * GRAD1 / (np.abs(GRAD1) + 1e-8)
    np.testing.assert_allclose(to_numpy(half), expected_half, **_tol(backend))
    np.testing.assert_allclose(to_numpy(full), 2 * expected_half, **_tol(backend))
    assert schedules.scaled(math.sqrt, 1.0) is math.sqrt  # a multiplier of 1 changes nothing


def _plateau_scales(reduce, values):
    state, scales = reduce.init(), []
    for value in values:
        state = reduce.update(state, value)
        scales.append(state.scale)
    return state, scales


def test_reduce_on_plateau_after_patience_non_improving_epochs():
    reduce = schedules.plateau(factor=0.5, patience=3, min_lr=0.0)
    values = [1.0, 0.9, 0.95, 0.9, 0.91, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    _, got = _plateau_scales(reduce, values)
    # 1.0 and 0.9 improve; 0.95, 0.9 (not below 0.9), 0.91 are 3 non-improving -> 0.5;
    # 0.8 improves; then six non-improving: reductions at the 3rd and 6th -> 0.25, 0.125.
    assert got == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]


def test_reduce_on_plateau_threshold_nan_and_min_lr():
    # Relative threshold 0.1: 0.95 is not below 1 - 0.1 * 1 = 0.9, so it does not improve.
    reduce = schedules.plateau(factor=0.1, patience=1, threshold=0.1, min_lr=1e-3, learning_rate=0.1)
    state, got = _plateau_scales(reduce, [1.0, 0.95, float("nan"), float("nan")])
    assert got[:2] == [1.0, pytest.approx(0.1)]
    # NaN never improves; the multiplier stops where 0.1 * multiplier = min_lr = 1e-3.
    assert got[2:] == [pytest.approx(0.01), pytest.approx(0.01)]
    assert state.best == 1.0


def test_plateau_update_is_pure():
    reduce = schedules.plateau(factor=0.5, patience=1)
    state = reduce.update(reduce.init(), 1.0)
    assert reduce.update(state, 2.0) == reduce.update(state, 2.0) == schedules.PlateauState(0.5, 1.0, 0)
    assert state == schedules.PlateauState(1.0, 1.0, 0)


# ---------------------------------------------------------------------------------------
# Names and validation


def test_get_optimizer_names():
    theta = np.zeros(2)
    for name in ("gd", "sgd", "SGD", "adam"):
        optimizer = opt.get_optimizer(name)
        assert isinstance(optimizer, opt.Optimizer)
    assert isinstance(opt.get_optimizer("sgd", momentum=0.5).init(theta), opt.SGDState)
    assert isinstance(opt.get_optimizer("adam", beta1=0.8).init(theta), opt.AdamState)
    # gd defaults: learning rate 0.01, no momentum (hand: -0.01 * [1, -2])
    updates, _ = opt.get_optimizer("gd").update(np.array([1.0, -2.0]), opt.get_optimizer("gd").init(theta))
    np.testing.assert_allclose(updates, [-0.01, 0.02], rtol=1e-15)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: opt.get_optimizer("lbfgs"), "unknown optimizer"),
        (lambda: opt.get_optimizer("adam", momentum=0.9), "momentum"),
        (lambda: opt.sgd(learning_rate=-1.0), "learning_rate"),
        (lambda: opt.sgd(learning_rate=float("nan")), "learning_rate"),
        (lambda: opt.sgd(momentum=1.0), "momentum"),
        (lambda: opt.sgd(nesterov=True), "nesterov"),
        (lambda: opt.adam(beta1=1.0), "beta1"),
        (lambda: opt.adam(beta2=-0.1), "beta2"),
        (lambda: opt.adam(epsilon=0.0), "epsilon"),
        (lambda: opt.get_optimizer("gd", momentum=0.9), "momentum"),
        (lambda: schedules.step_decay(0.1, factor=0.0), "factor"),
        (lambda: schedules.step_decay(0.1, every=0), "every"),
        (lambda: schedules.inverse_scaling(0.1, power=-1.0), "power"),
        (lambda: schedules.plateau(factor=1.0), "factor"),
        (lambda: schedules.plateau(patience=0), "patience"),
        (lambda: schedules.constant(0.1)(-1), "count"),
    ],
)
def test_bad_hyperparameters_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_update_is_pure(backend):
    # The same (grad, state) gives the same result twice: nothing was mutated.
    optimizer = opt.adam(0.1)
    theta = _on(backend, THETA)
    g = _on(backend, GRAD1)
    state = optimizer.init(theta)
    _, state1 = optimizer.update(g, state, theta)
    a, _ = optimizer.update(g, state1, theta)
    b, _ = optimizer.update(g, state1, theta)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(state.mu), np.zeros(4))
    assert math.isfinite(float(to_numpy(a)[0]))


@pytest.mark.parametrize("make", [lambda: opt.adam(0.01), lambda: opt.sgd(0.1, momentum=0.9, nesterov=True),
                                  lambda: opt.sgd(0.1, momentum=0.9), lambda: opt.gd(0.1)],
                         ids=["adam", "sgd-nesterov", "sgd-momentum", "gd"])
def test_fused_step_is_bit_identical_to_update_and_apply(backend, make):
    """The fused step (in place where the library allows) against the pure reference path."""
    optimizer = make()
    step = opt.fused_step(optimizer)
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(50) for _ in range(4)]
    theta_ref = theta_fused = _on(backend, rng.standard_normal(50))
    theta_before = to_numpy(theta_fused).copy()
    state_ref = optimizer.init(theta_ref)
    state_fused = optimizer.init(theta_fused)
    first = theta_fused
    for g in grads:
        updates, state_ref = optimizer.update(_on(backend, g), state_ref, theta_ref)
        theta_ref = opt.apply_updates(theta_ref, updates)
        theta_fused, state_fused = step(_on(backend, g), state_fused, theta_fused)
        np.testing.assert_array_equal(to_numpy(theta_fused), to_numpy(theta_ref))
        assert state_fused.count == state_ref.count
        for fused, ref in zip(state_fused[1:], state_ref[1:]):
            if ref is not None:
                np.testing.assert_array_equal(to_numpy(fused), to_numpy(ref))
    np.testing.assert_array_equal(to_numpy(first), theta_before)  # theta itself is never written
    _assert_on_device(backend, theta_fused)


@pytest.mark.parametrize("make", [lambda: opt.adam(0.1), lambda: opt.sgd(0.1, momentum=0.9)], ids=["adam", "sgd"])
def test_fused_step_never_writes_a_state_it_did_not_return(backend, make):
    """Rollback is a property of the step: a state from init, from the caller or from
    another step survives any number of fused steps (reference: its values before)."""
    optimizer = make()
    theta = _on(backend, THETA)
    _, earlier = opt.fused_step(optimizer)(_on(backend, GRAD1), optimizer.init(theta), theta)
    before = [to_numpy(a).copy() for a in earlier[1:]]
    step = opt.fused_step(optimizer)  # a new step, as the training loop makes every epoch
    state = earlier
    for g in (GRAD2, GRAD1, GRAD2):
        _, state = step(_on(backend, g), state, theta)  # the second and third calls reuse buffers
    for kept, values in zip(earlier[1:], before):
        np.testing.assert_array_equal(to_numpy(kept), values)
    assert earlier.count == 1 and state.count == 4


# ---------------------------------------------------------------------------------------
# A learning-rate schedule's values are checked where they are used (issue 12).


@pytest.mark.parametrize("bad", [-1, -1e-3, float("nan"), float("inf"), "0.1", None, True, [0.1]],
                         ids=["minus-one", "negative", "nan", "inf", "string", "none", "bool", "list"])
@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_schedule_returning_a_bad_rate_raises_naming_learning_rate_and_count(backend, name, bad):
    optimizer = opt.get_optimizer(name, learning_rate=lambda count: 0.1 if count < 2 else bad)
    theta, g = _on(backend, THETA), _on(backend, GRAD1)
    state = optimizer.init(theta)
    for _ in range(2):  # counts 0 and 1 are fine
        _, state = optimizer.update(g, state, theta)
    with pytest.raises(ValueError, match=r"learning_rate.*count 2"):
        optimizer.update(g, state, theta)
    with pytest.raises(ValueError, match=r"learning_rate.*count 2"):
        opt.fused_step(optimizer)(g, state, theta)


def test_schedule_may_return_zero_and_numbers_that_are_not_floats(backend):
    # Zero is allowed (a decay may reach it): no move.  An int or a NumPy float counts as its value.
    theta, g = _on(backend, THETA), _on(backend, GRAD1)
    for rate, expected in ((0.0, THETA), (1, THETA - 1 * GRAD1), (np.float32(0.5), THETA - 0.5 * GRAD1)):
        optimizer = opt.sgd(learning_rate=lambda count, rate=rate: rate)
        updates, _ = optimizer.update(g, optimizer.init(theta), theta)
        np.testing.assert_allclose(to_numpy(opt.apply_updates(theta, updates)), expected, **_tol(backend))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_fit_with_a_negative_schedule_raises_instead_of_ascending(backend, name):
    import bpnet_xp as bp

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    net = bp.MLP([3, 4, 2], output="softmax", loss="softmax_cross_entropy", backend=backend,
                 dtype=_dtype(backend), seed=0)
    with pytest.raises(ValueError, match=r"learning_rate.*count 0"):
        net.fit(X, y, optimizer=name, epochs=2, batch_size=10, learning_rate=lambda t: -1)


def test_cupy_fused_adam_kernel_is_bit_identical_to_the_generic_update():
    """The one-pass CuPy ElementwiseKernel (bpnet_xp.backend.fused_adam) against the
    generic update's eleven kernels, float32 and float64 (skips without a CUDA device)."""
    import bpnet_xp as bp
    from bpnet_xp.backend import fused_adam

    try:
        backend = bp.get_backend("cupy")
    except bp.BackendUnavailableError as exc:
        pytest.skip(str(exc))
    import cupy

    assert fused_adam(cupy, 10_000) is not None
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        optimizer = opt.adam(0.01)
        step = opt.fused_step(optimizer)
        theta_ref = theta = backend.asarray(rng.standard_normal(10_000), dtype=dtype)
        state_ref = state = optimizer.init(theta)
        for _ in range(3):
            g = backend.asarray(rng.standard_normal(10_000), dtype=dtype)
            updates, state_ref = optimizer.update(g, state_ref, theta_ref)
            theta_ref = opt.apply_updates(theta_ref, updates)
            theta, state = step(g, state, theta)
            for fused, ref in ((theta, theta_ref), (state.mu, state_ref.mu), (state.nu, state_ref.nu)):
                np.testing.assert_array_equal(to_numpy(fused), to_numpy(ref))


def test_fused_adam_is_offered_only_where_it_is_bit_identical(monkeypatch):
    # PyTorch's one-pass forms round differently: never.  NumPy: only through Numba, only
    # for vectors of NUMBA_MIN_PARAMETERS or more, and not with BPNET_XP_NUMBA=0.
    from bpnet_xp import backend as be

    big = be.NUMBA_MIN_PARAMETERS
    assert be.fused_adam(np, big - 1) is None
    has_numba = importlib.util.find_spec("numba") is not None
    assert (be.fused_adam(np, big) is not None) == has_numba
    assert (be.fused_adam(np) is not None) == has_numba  # size not given: no size rule
    monkeypatch.setenv("BPNET_XP_NUMBA", "0")
    assert be.fused_adam(np, big) is None
    torch = pytest.importorskip("torch")
    assert be.fused_adam(torch, big) is None


def _adam_runs(dtype, n, steps, seed=0):
    """(fused step's theta/mu/nu, pure update's) after ``steps`` Adam steps on NumPy."""
    rng = np.random.default_rng(seed)
    optimizer = opt.adam(0.01)
    step = opt.fused_step(optimizer)
    theta_ref = theta = rng.standard_normal(n).astype(dtype)
    state_ref = state = optimizer.init(theta)
    for _ in range(steps):
        # Gradients of mixed scales, zeros and signs: the moments' two terms then cancel
        # in places, where a contracted multiply-add would show.
        g = (rng.standard_normal(n) * 10.0 ** rng.integers(-6, 3, n)).astype(dtype)
        g[:: 97] = 0
        updates, state_ref = optimizer.update(g, state_ref, theta_ref)
        theta_ref = opt.apply_updates(theta_ref, updates)
        theta, state = step(g, state, theta)
    return (theta, state.mu, state.nu), (theta_ref, state_ref.mu, state_ref.nu)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_adam_step_is_bit_identical_to_the_generic_update(dtype):
    """The one-pass Numba loop (bpnet_xp.numba_kernels) against the pure update's
    separate NumPy ufuncs, bit for bit, over several steps whose buffers it reuses."""
    pytest.importorskip("numba")
    from bpnet_xp import backend as be

    n = be.NUMBA_MIN_PARAMETERS + 1001  # above the threshold, not a multiple of the SIMD width
    assert be.fused_adam(np, n) is not None
    fused, reference = _adam_runs(dtype, n, steps=4)
    for mine, ref in zip(fused, reference):
        assert mine.dtype == ref.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(mine.view(f"u{mine.itemsize}"), ref.view(f"u{ref.itemsize}"))


def test_numba_adam_step_is_taken_and_leaves_its_inputs_alone(monkeypatch):
    """The fused step calls the Numba loop for a big vector (spied), writes neither theta
    nor a state it did not return, and a new step after it starts in fresh buffers."""
    pytest.importorskip("numba")
    from bpnet_xp import numba_kernels

    calls = []
    real = numba_kernels.adam_step
    monkeypatch.setattr(numba_kernels, "adam_step", lambda *a: calls.append(1) or real(*a))
    n = 20_000
    rng = np.random.default_rng(1)
    optimizer = opt.adam(0.1)
    theta = rng.standard_normal(n)
    theta_copy, g = theta.copy(), rng.standard_normal(n)
    new_theta, earlier = opt.fused_step(optimizer)(g, optimizer.init(theta), theta)
    kept = [earlier.mu.copy(), earlier.nu.copy()]
    step = opt.fused_step(optimizer)
    state = earlier
    for _ in range(3):
        new_theta, state = step(g, state, new_theta)
    assert len(calls) == 4
    np.testing.assert_array_equal(theta, theta_copy)
    np.testing.assert_array_equal(earlier.mu, kept[0])
    np.testing.assert_array_equal(earlier.nu, kept[1])


def test_fit_with_numba_adam_equals_fit_without_it(monkeypatch):
    """A whole fit (Adam, mini-batches, 19 210 parameters) with the Numba loop and with
    the generic passes (BPNET_XP_NUMBA=0): the same parameters, bit for bit."""
    pytest.importorskip("numba")
    import bpnet_xp as bp

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 64)), rng.integers(0, 10, 300)

    def fit():
        net = bp.MLP([64, 256, 10], activation="relu", output="softmax", backend="numpy",
                     loss="softmax_cross_entropy", dtype="float32", seed=3)
        net.fit(X, y, optimizer="adam", epochs=3, batch_size=32, learning_rate=1e-3)
        return np.asarray(net.theta)

    with_numba = fit()
    monkeypatch.setenv("BPNET_XP_NUMBA", "0")
    without = fit()
    assert with_numba.size >= 1 << 14
    np.testing.assert_array_equal(with_numba.view(np.uint32), without.view(np.uint32))


@pytest.mark.parametrize("make", [lambda: opt.adam(0.01), lambda: opt.sgd(0.1), lambda: opt.sgd(0.1, momentum=0.9)],
                         ids=["adam", "sgd", "sgd-momentum"])
@pytest.mark.parametrize("n", [50, 20_000], ids=["small", "numba-sized"])
def test_fused_step_with_a_gradient_of_another_dtype_follows_the_pure_rule(n, make):
    """A float64 gradient for float32 parameters: the in-place buffers (theta's dtype)
    would round the promoted result; the step equals the pure update instead."""
    rng = np.random.default_rng(2)
    optimizer = make()
    theta, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n)
    fused, state = opt.fused_step(optimizer)(g, optimizer.init(theta), theta)
    updates, ref_state = optimizer.update(g, optimizer.init(theta), theta)
    reference = opt.apply_updates(theta, updates)
    assert fused.dtype == reference.dtype
    np.testing.assert_array_equal(fused, reference)
    for mine, ref in zip(state[1:], ref_state[1:]):
        if ref is not None:
            np.testing.assert_array_equal(mine, ref)


def test_numba_that_cannot_be_imported_falls_back_to_the_generic_passes_with_one_warning(monkeypatch):
    """Numba installed but unusable (here: its module made unimportable, as a Numba that
    refuses this NumPy raises ImportError): a RuntimeWarning naming the cause, once, and
    the generic passes, whose results are the reference anyway."""
    import sys

    from bpnet_xp import backend as be

    if importlib.util.find_spec("numba") is None:
        pytest.skip("needs numba installed (the fallback is for an installed but unusable Numba)")
    monkeypatch.setattr(be, "_NUMBA_FAILED", [])
    monkeypatch.setitem(sys.modules, "bpnet_xp.numba_kernels", None)  # import -> ImportError
    with pytest.warns(RuntimeWarning, match=r"numba is installed but bpnet_xp cannot use it \((ModuleNotFound|Import)Error"):
        assert be.fused_adam(np, be.NUMBA_MIN_PARAMETERS) is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the second time: no warning
        assert be.fused_adam(np, be.NUMBA_MIN_PARAMETERS) is None
    fused, reference = _adam_runs("float32", be.NUMBA_MIN_PARAMETERS, steps=2)
    for mine, ref in zip(fused, reference):
        np.testing.assert_array_equal(mine, ref)


def test_numba_loop_without_a_writable_cache_compiles_without_it(monkeypatch):
    """Where Numba has nowhere to write its cache, ``cache=True`` raises RuntimeError at
    decoration; the module then compiles without the cache (simulated: njit refusing
    cache=True), and the loop still gives the generic update's bits."""
    numba = pytest.importorskip("numba")
    from bpnet_xp import numba_kernels

    real_njit = numba.njit

    def njit_without_cache(*args, **options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return real_njit(*args, **options)

    monkeypatch.setattr(numba, "njit", njit_without_cache)
    try:
        reloaded = importlib.reload(numba_kernels)
        assert type(reloaded._adam_loop._cache).__name__ == "NullCache"  # compiled without the cache
        fused, reference = _adam_runs("float64", 20_000, steps=3)
        for mine, ref in zip(fused, reference):
            np.testing.assert_array_equal(mine, ref)
    finally:
        monkeypatch.undo()
        importlib.reload(numba_kernels)
