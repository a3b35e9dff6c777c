"""The peers bpnet_xp is compared with: a hand-written NumPy loop, NumPy + scipy.optimize,
scikit-learn's MLPClassifier and PyTorch (eager nn.Sequential, torch.optim).

Each takes host NumPy data and returns a :class:`common.Run`; scipy, scikit-learn and
torch are imported inside the functions, so a process imports only the peer it runs.
"""

from __future__ import annotations

import warnings

import numpy as np

from bpnet_xp.initializers import initial_parameters

from .common import Run, timed

# ---------------------------------------------------------------------------------------
# W1: mini-batch Adam, relu MLP + softmax cross-entropy.


def _unpack(theta, sizes, copy: bool = True) -> list:
    """[(W, b)] views (or copies) of a flat theta in bpnet_xp's layout [W1 row-major, b1, ...]."""
    params, start = [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        W = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        b = theta[start:start + n_out]
        start += n_out
        params.append((W.copy(), b.copy()) if copy else (W, b))
    return params


def _hand_forward(params, X):
    A = X
    for W, b in params[:-1]:
        A = np.maximum(A @ W + b, 0)
    W, b = params[-1]
    return A @ W + b


def _hand_loss_grad(params, Xb, Yb):
    """Summed softmax cross-entropy of one batch and the gradients of its mean."""
    mb = Xb.shape[0]
    inputs, A = [], Xb  # forward, keeping each layer's input
    for W, b in params[:-1]:
        inputs.append(A)
        A = np.maximum(A @ W + b, 0)
    inputs.append(A)
    W, b = params[-1]
    Z = A @ W + b
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    S = E.sum(axis=1, keepdims=True)
    loss = -np.sum(Yb * (Z - np.log(S)))
    D = (E / S - Yb) / mb
    grads = [None] * len(params)  # backward
    for layer in range(len(params) - 1, -1, -1):
        A_in = inputs[layer]
        grads[layer] = (A_in.T @ D, D.sum(axis=0))
        if layer > 0:
            D = (D @ params[layer][0].T) * (A_in > 0)
    return loss, grads


def _hand_adam(params, grads, moments, t, lr, beta1, beta2, epsilon) -> None:
    """Adam (Kingma & Ba, Algorithm 1), in place."""
    c1, c2 = 1 - beta1**t, 1 - beta2**t
    for (W, b), (gW, gb), moment in zip(params, grads, moments):
        for p, g, mu, nu in ((W, gW, moment[0], moment[2]), (b, gb, moment[1], moment[3])):
            mu *= beta1
            mu += (1 - beta1) * g
            nu *= beta2
            nu += (1 - beta2) * (g * g)
            p -= lr * (mu / c1) / (np.sqrt(nu / c2) + epsilon)


def _hand_train(params, X, y, n_classes, batch, epochs, seed, lr, adam) -> float:
    moments = [(np.zeros_like(W), np.zeros_like(b), np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    m = X.shape[0]
    Y = np.zeros((m, n_classes), dtype=np.float32)
    Y[np.arange(m), y] = 1
    rng = np.random.default_rng(seed)
    t, epoch_loss = 0, 0.0
    for _ in range(epochs):
        order = rng.permutation(m)
        total = np.float32(0)
        for lo in range(0, m, batch):
            idx = order[lo:lo + batch]
            loss, grads = _hand_loss_grad(params, X[idx], Y[idx])
            total += loss
            t += 1
            _hand_adam(params, grads, moments, t, lr, *adam)
        epoch_loss = float(total) / m  # one host read per epoch, as bpnet_xp does
    return epoch_loss


def w1_numpy_hand(X, y, X_test, y_test, sizes, batch, epochs, seed, lr,
                  beta1=0.9, beta2=0.999, epsilon=1e-8) -> Run:
    """Mini-batch Adam for a relu MLP + softmax cross-entropy, written directly in NumPy.

    The same initial weights as ``bp.MLP(sizes, activation="relu", seed=seed)`` and
    the same batch order as ``fit(..., seed=seed)`` (one permutation per epoch from
    ``numpy.random.default_rng(seed)``).  Written the way a careful NumPy user
    would: per-layer arrays, ``@`` for the matmuls, Adam moments updated in place.
    """
    theta0 = initial_parameters(sizes, "auto", "relu", seed).astype(np.float32)

    def run():
        params = _unpack(theta0, sizes)
        return params, _hand_train(params, X, y, sizes[-1], batch, epochs, seed, lr, (beta1, beta2, epsilon))

    seconds, (params, loss) = timed(run, "numpy")
    accuracy = float(np.mean(np.argmax(_hand_forward(params, X_test), axis=1) == y_test))
    return Run(seconds, loss, accuracy)


def w1_sklearn(X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """scikit-learn's MLPClassifier(solver="adam"): same architecture, batch and learning rate."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="relu", solver="adam", alpha=0.0,
                        batch_size=batch, learning_rate_init=lr, max_iter=epochs, tol=0.0,
                        n_iter_no_change=10**9, early_stopping=False, shuffle=True, random_state=seed,
                        beta_1=0.9, beta_2=0.999, epsilon=1e-8)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    seconds, _ = timed(run, "sklearn")
    return Run(seconds, float(clf.loss_), float(clf.score(X_test, y_test)))


def torch_model(sizes, seed, device, dtype_name="float32"):
    """nn.Sequential of Linear + ReLU with bpnet_xp's initial weights for ``seed``."""
    import torch
    from torch import nn

    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    theta0 = initial_parameters(sizes, "auto", "relu", seed).astype(dtype_name)
    linear = [layer for layer in model if isinstance(layer, nn.Linear)]
    with torch.no_grad():
        for lin, (W, b) in zip(linear, _unpack(theta0, sizes, copy=False)):
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))  # torch stores (out, in)
            lin.bias.copy_(torch.from_numpy(b.copy()))
    return model.to(device=device, dtype=getattr(torch, dtype_name))


def w1_torch(device, X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """Eager PyTorch: nn.Sequential + torch.optim.Adam, float32, the same init and batch order."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    model = torch_model(sizes, seed, dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8)
    # On CUDA the data are on the device before the clock starts (as for bpnet_xp on GPU).
    X_dev, y_dev = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)

    def run():
        rng = np.random.default_rng(seed)
        m = X_dev.shape[0]
        loss_value = 0.0
        for _ in range(epochs):
            order = torch.from_numpy(rng.permutation(m)).to(dev)
            total = torch.zeros((), device=dev)
            for lo in range(0, m, batch):
                idx = order[lo:lo + batch]
                xb, yb = X_dev[idx], y_dev[idx]
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.detach() * xb.shape[0]
            loss_value = float(total) / m
        return loss_value

    seconds, loss = timed(run, f"torch:{dev.type}")
    with torch.no_grad():
        pred = model(torch.from_numpy(X_test).to(dev)).argmax(dim=1).cpu().numpy()
    return Run(seconds, loss, float(np.mean(pred == y_test)))


_JAX_STEP: dict = {}  # the jitted native step, built once per process (its warm-up run compiles it)


def _jax_native_step():
    """``step(params, moments, t, X, y, idx, lr) -> (params, moments, loss)``: a whole
    training step (gather, forward, jax.value_and_grad, Adam) under one ``jax.jit``."""
    if "step" not in _JAX_STEP:
        import jax
        import jax.numpy as jnp

        def loss_fn(params, xb, yb):
            A = xb
            for W, b in params[:-1]:
                A = jnp.maximum(A @ W + b, 0)
            W, b = params[-1]
            Z = A @ W + b
            Z = Z - jnp.max(Z, axis=1, keepdims=True)
            log_p = Z - jnp.log(jnp.sum(jnp.exp(Z), axis=1, keepdims=True))
            return -jnp.mean(jnp.take_along_axis(log_p, yb[:, None], axis=1))

        def step(params, moments, t, X, y, idx, lr, beta1=0.9, beta2=0.999, epsilon=1e-8):
            loss, grads = jax.value_and_grad(loss_fn)(params, X[idx], y[idx])
            mu, nu = moments
            mu = jax.tree.map(lambda m, g: beta1 * m + (1 - beta1) * g, mu, grads)
            nu = jax.tree.map(lambda v, g: beta2 * v + (1 - beta2) * (g * g), nu, grads)
            c1, c2 = 1 - beta1**t, 1 - beta2**t
            params = jax.tree.map(lambda p, m, v: p - lr * (m / c1) / (jnp.sqrt(v / c2) + epsilon),
                                  params, mu, nu)
            return params, (mu, nu), loss

        _JAX_STEP["step"] = jax.jit(step)
    return _JAX_STEP["step"]


def w1_jax_native(X, y, X_test, y_test, sizes, batch, epochs, seed, lr) -> Run:
    """Native JAX: a pure jax.numpy MLP + textbook Adam, ``jax.jit`` of the whole step.

    The same initial weights and batch order as bpnet_xp (one host permutation per epoch
    from ``numpy.random.default_rng(seed)``, the batch gathered inside the step), float32,
    the data moved to the device inside the clock (as ``fit`` does with host data).  The
    ragged last batch has its own shape, so its own compilation (done in the untimed
    warm-up run, like the rest).
    """
    import jax
    import jax.numpy as jnp

    step = _jax_native_step()
    theta0 = initial_parameters(sizes, "auto", "relu", seed).astype(np.float32)

    def run():
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in _unpack(theta0, sizes)]
        moments = (jax.tree.map(jnp.zeros_like, params), jax.tree.map(jnp.zeros_like, params))
        X_dev, y_dev = jnp.asarray(X), jnp.asarray(y)
        rng, m, t, loss_value = np.random.default_rng(seed), X.shape[0], 0, 0.0
        for _ in range(epochs):
            order = jnp.asarray(rng.permutation(m))
            total = jnp.zeros((), jnp.float32)
            for lo in range(0, m, batch):
                idx = order[lo:lo + batch]
                t += 1
                params, moments, loss = step(params, moments, jnp.float32(t), X_dev, y_dev, idx, lr)
                total = total + loss * idx.shape[0]
            loss_value = float(total) / m  # one host read per epoch, as bpnet_xp does
        return jax.block_until_ready(params), loss_value

    seconds, (params, loss) = timed(run, "jax")
    A = jnp.asarray(X_test)
    for W, b in params[:-1]:
        A = jnp.maximum(A @ W + b, 0)
    pred = np.asarray(jnp.argmax(A @ params[-1][0] + params[-1][1], axis=1))
    return Run(seconds, loss, float(np.mean(pred == y_test)))


# ---------------------------------------------------------------------------------------
# W2: full-batch sigmoid MLP, classic cross-entropy + L2.


def numpy_cost(sizes, X, Y, l2):
    """J(theta) and its gradient for a sigmoid MLP with the classic cross-entropy, in NumPy.

    J = (1/m) sum_i sum_k [softplus(z_ik) - y_ik z_ik] + (l2 / 2m) sum W**2 (biases
    not penalised); the same layout of theta as bpnet_xp ([W1 row-major, b1, ...]).
    Sigmoid by scipy.special.expit; the cost by the stable softplus form.
    """
    from scipy.special import expit

    m = X.shape[0]

    def fun(theta):
        params = _unpack(theta, sizes, copy=False)
        inputs, A = [], X
        for W, b in params[:-1]:
            inputs.append(A)
            A = expit(A @ W + b)
        inputs.append(A)
        W, b = params[-1]
        Z = A @ W + b
        H = expit(Z)
        J = (np.sum(np.logaddexp(0, Z) - Y * Z) + 0.5 * l2 * sum(np.sum(W * W) for W, _ in params)) / m
        D = H - Y
        grads = []
        for layer in range(len(params) - 1, -1, -1):
            W, _ = params[layer]
            A_in = inputs[layer]
            grads.append(D.sum(axis=0) / m)
            grads.append(((A_in.T @ D) + l2 * W).reshape(-1) / m)
            if layer > 0:
                D = (D @ W.T) * A_in * (1 - A_in)
        grads.reverse()
        return J, np.concatenate(grads)

    return fun


def w2_scipy(X, y, sizes, iterations, seed, method="CG") -> Run:
    """NumPy + scipy.optimize.minimize(method, jac=True) from bpnet_xp's initial weights."""
    from scipy.optimize import minimize
    from scipy.special import expit

    theta0 = initial_parameters(sizes, "auto", "sigmoid", seed)  # the same start as bpnet_xp
    K = sizes[-1]

    def run():
        Y = np.zeros((X.shape[0], K))
        Y[np.arange(X.shape[0]), y] = 1.0
        fun = numpy_cost(sizes, X, Y, 1.0)
        options = {"maxiter": iterations, "gtol": 1e-6}
        return minimize(fun, theta0, jac=True, method=method, options=options)

    seconds, res = timed(run, "numpy")
    A = X
    for W, b in _unpack(res.x, sizes, copy=False):
        A = expit(A @ W + b)
    accuracy = float(np.mean(np.argmax(A, axis=1) == y))
    return Run(seconds, float(res.fun), accuracy,
               {"iterations": int(res.nit), "evaluations": int(res.nfev), "stop_reason": str(res.message)})


def w2_sklearn(X, y, sizes, iterations, seed) -> Run:
    """MLPClassifier(solver="lbfgs", activation="logistic", alpha=1): a softmax output."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), activation="logistic", solver="lbfgs",
                        alpha=1.0, max_iter=iterations, tol=0.0, random_state=seed)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)

    seconds, _ = timed(run, "sklearn")
    return Run(seconds, float(clf.loss_), float(clf.score(X, y)), {"iterations": int(clf.n_iter_)})


# ---------------------------------------------------------------------------------------
# W3: full-batch L-BFGS on a large data set.


def torch_lbfgs(device: str, X, y, sizes, iterations: int, seed: int) -> dict:
    """torch.optim.LBFGS (strong Wolfe), data on the device, bpnet_xp's initial weights."""
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    model = torch_model(sizes, seed, dev)
    Xt, yt = torch.from_numpy(X).to(dev), torch.from_numpy(y).to(dev)
    # max_eval: torch's default (1.25 max_iter) would stop after a few line searches, long
    # before max_iter iterations; bpnet_xp's lbfgs has no evaluation limit either.
    opt = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=iterations, max_eval=25 * iterations,
                            history_size=10, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=0.0)

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(Xt), yt)
        loss.backward()
        return loss

    seconds, _ = timed(lambda: float(opt.step(closure).detach()), f"torch:{dev.type}")
    state = opt.state[opt._params[0]]
    n_iter = int(state.get("n_iter", iterations))
    return {"seconds": seconds, "iterations": n_iter, "seconds_per_iteration": seconds / max(n_iter, 1),
            "evaluations": int(state.get("func_evals", 0)) or 1,
            "final_loss": float(F.cross_entropy(model(Xt), yt).detach())}
