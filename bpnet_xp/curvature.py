"""Curvature of the loss: Hessian-vector and Gauss-Newton products, residual Jacobians.

Pure functions of ``(spec, theta, X, Y, v)`` beside :mod:`bpnet_xp.network`, written in
the array API only, with no automatic differentiation:

* :func:`hessian_vector_product`: the exact Hessian of the loss J (L2 included) times
  a flat vector v, by Pearlmutter's R-operator (1994): one forward R-pass, which carries
  R(Z) = dZ/dtheta . v beside Z, and one backward R-pass, which carries R(D) beside the
  delta D.  Cost: about twice a gradient; H is never formed.
* :func:`gauss_newton_vector_product`: G v with G = J_z^T H_L J_z (Schraudolph 2002), the
  Hessian with the second-order terms of the network dropped; H_L is the Hessian of the
  loss in the output pre-activations z (in the outputs a for mse on a non-identity
  output), positive semi-definite for every pair of :mod:`bpnet_xp.losses`, so G is too.
* :func:`residual_jacobian` and :func:`normal_equations`: for mse, the Jacobian of the
  residuals e_ik = a_ik - y_ik ((m K) x P), built chunk by chunk of rows so that
  J^T J (P x P) and J^T e (P,) accumulate without ever holding all of J.

Notation as in network.py: ``A`` activations, ``Z`` pre-activations, ``D`` = dJ/dZ; an
``R`` prefix is the directional derivative along v.  Derivations: docs/theory.md.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from .network import NetworkSpec, column, forward, loss_and_grad, unpack

__all__ = [
    "hessian_vector_product",
    "gauss_newton_vector_product",
    "data_product",
    "finish_product",
    "residual_jacobian",
    "normal_equations",
    "jacobian_bytes",
    "outputs",
    "weight_mask",
    "CurvatureObjective",
]


def _second(name: str, A):
    """d/dz of the activation's derivative f'(z), written in terms of a = f(z), or None for 0.

    sigmoid: f' = a(1-a), f'' = a(1-a)(1-2a); tanh: f' = 1-a^2, f'' = -2a(1-a^2);
    identity and relu (almost everywhere): 0.
    """
    if name == "sigmoid":
        return A * (1 - A) * (1 - 2 * A)
    if name == "tanh":
        return -2 * A * (1 - A * A)
    if name in ("identity", "relu"):
        return None
    raise ValueError(f"no second derivative for activation {name!r}")  # pragma: no cover


def _output_jacobian_times(spec: NetworkSpec, A, RZ):
    """R(A) = (dA/dZ) R(Z) of the output layer, row by row (softmax: diag(a) - a a^T)."""
    xp = array_namespace(A, RZ)
    if spec.output.name == "softmax":
        return A * RZ - A * xp.sum(A * RZ, axis=1, keepdims=True)
    return spec.output.derivative(A) * RZ


def _split(spec: NetworkSpec, v):
    """Per-layer (V, c) of a flat direction, like :func:`bpnet_xp.network.unpack`."""
    return unpack(spec, v)


def _r_forward(spec: NetworkSpec, layers, directions, X):
    """Forward pass and forward R-pass.

    Returns ``(A_L, RZ_L, inputs, r_inputs, r_pres)``: the output activations (m, K), R of
    the output pre-activations, and for each layer its input A, R(A) (None for X) and the
    R(Z) that produced it (None for X).
    """
    A, RA, RZ_in = X, None, None
    inputs, r_inputs, r_pres = [], [], []
    for index, ((W, b), (V, c)) in enumerate(zip(layers, directions)):
        inputs.append(A)
        r_inputs.append(RA)
        r_pres.append(RZ_in)
        Z = A @ W + b
        RZ = A @ V + c if RA is None else RA @ W + A @ V + c
        if index == len(layers) - 1:
            return spec.output.function(Z), RZ, inputs, r_inputs, r_pres
        A = spec.activation.function(Z)
        RA, RZ_in = spec.activation.derivative(A) * RZ, RZ
    raise AssertionError("unreachable")  # pragma: no cover


def _output_deltas(spec: NetworkSpec, A, Y, RZ, gauss_newton: bool):
    """(D, R(D)) at the output, summed-loss convention.

    Gauss-Newton drops the (a - y) f'' term of a non-canonical pair (mse on a
    sigmoid/tanh/relu output), leaving f' R(a) = f'^2 R(Z): the product by J_a^T J_a.
    """
    RA = _output_jacobian_times(spec, A, RZ)
    if spec.output.name == spec.loss.canonical_output:
        return A - Y, RA  # D = a - y exactly, so R(D) = R(a)
    # mse on a sigmoid/tanh/relu output: D = (a - y) f'(a).
    slope = spec.output.derivative(A)
    D = (A - Y) * slope
    RD = RA * slope
    curvature = None if gauss_newton else _second(spec.output.name, A)
    if curvature is not None:
        RD = RD + (A - Y) * curvature * RZ
    return D, RD


def _backward(spec: NetworkSpec, layers, directions, passes, D, RD, gauss_newton: bool):
    """Backward R-pass: the flat R(gradient) of the summed data term.

    For a layer with input A, weights W, direction V and output delta D:
    R(dW) = R(A)^T D + A^T R(D), R(db) = sum R(D), and the delta below,
    D' = (D W^T) f'(A), has R(D') = (R(D) W^T + D V^T) f'(A) + (D W^T) f''(Z) R(Z).
    Gauss-Newton keeps only the terms linear in R(D) (J_z^T applied to H_L R(Z)).
    """
    inputs, r_inputs, r_pres = passes
    xp = array_namespace(D)
    parts = []
    for layer in range(len(layers) - 1, -1, -1):
        W, _ = layers[layer]
        V, _ = directions[layer]
        A_in, RA_in = inputs[layer], r_inputs[layer]
        RdW = A_in.T @ RD
        if not gauss_newton and RA_in is not None:
            RdW = RdW + RA_in.T @ D
        parts.append(xp.sum(RD, axis=0))
        parts.append(xp.reshape(RdW, (-1,)))
        if layer == 0:
            break
        slope = spec.activation.derivative(A_in)
        back = D @ W.T  # dJ/dA of the layer below
        new_RD = (RD @ W.T) * slope
        if not gauss_newton:
            new_RD = new_RD + (D @ V.T) * slope
            curvature = _second(spec.activation.name, A_in)
            if curvature is not None:
                new_RD = new_RD + back * curvature * r_pres[layer]
        D, RD = back * slope, new_RD
    parts.reverse()
    return xp.concat(parts)


def data_product(spec: NetworkSpec, theta, X, Y, v, weight=None, *, gauss_newton: bool = False):
    """The data term's H v (or G v), *summed* over the rows of X: no 1/m, no penalty.

    Sums over row blocks add up exactly (the Dask objective reduces them over chunks);
    :func:`hessian_vector_product` divides by m and adds the penalty's l2/m on the weights.

    Parameters
    ----------
    spec : NetworkSpec
        The network's layer sizes, activations, loss and l2.
    theta : array, shape (n_parameters,)
        The parameters.
    X : array, shape (m, n_inputs)
        Inputs.
    Y : array, shape (m, n_outputs)
        Targets, one-hot for classification.
    v : array, shape (n_parameters,)
        The direction, in theta's layout.
    weight : array, shape (m,), optional
        Per-sample weights, as :func:`bpnet_xp.network.loss_and_grad`.
    gauss_newton : bool
        G v instead of H v.

    Returns
    -------
    array, shape (n_parameters,)
        The summed product.
    """
    if tuple(v.shape) != (spec.n_parameters,):
        raise ValueError(f"v must have shape ({spec.n_parameters},), got {tuple(v.shape)}")
    layers, directions = unpack(spec, theta), _split(spec, v)
    A, RZ, *passes = _r_forward(spec, layers, directions, X)
    D, RD = _output_deltas(spec, A, Y, RZ, gauss_newton)
    if weight is not None:
        w = column(weight)
        D, RD = D * w, RD * w  # each sample's terms are linear in its row of D
    return _backward(spec, layers, directions, passes, D, RD, gauss_newton)


def finish_product(spec: NetworkSpec, product_sum, v, total):
    """Summed data product -> the product of the mean loss plus the L2 penalty's (l2/total) M v.

    Parameters
    ----------
    spec : NetworkSpec
        Gives l2 and which entries are weights (M).
    product_sum : array, shape (n_parameters,)
        :func:`data_product` summed over all the rows.
    v : array, shape (n_parameters,)
        The direction.
    total : int, float or 0-d array
        Rows, or the total sample weight.

    Returns
    -------
    array, shape (n_parameters,)
        The product of J's Hessian (or Gauss-Newton matrix) with v.
    """
    product = product_sum / total
    if spec.l2 == 0:
        return product
    return product + (spec.l2 / total) * weight_mask(spec, v) * v


def _product(spec: NetworkSpec, theta, X, Y, v, weight, gauss_newton: bool):
    xp = array_namespace(theta, X, Y, v)
    total = X.shape[0] if weight is None else xp.sum(weight)
    return finish_product(spec, data_product(spec, theta, X, Y, v, weight, gauss_newton=gauss_newton), v, total)


def hessian_vector_product(spec: NetworkSpec, theta, X, Y, v, weight=None):
    """The exact Hessian of J (mean loss plus L2 penalty) times v, by the R-operator.

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
    v : array, shape (n_parameters,)
    weight : array, shape (m,), optional
        Per-sample weights, as :func:`bpnet_xp.network.loss_and_grad`.

    Returns
    -------
    array, shape (n_parameters,)
        H v, in theta's layout, namespace and device.

    Notes
    -----
    relu's second derivative is taken as 0 (it is, away from the kink), so H is the
    Hessian almost everywhere.
    """
    return _product(spec, theta, X, Y, v, weight, gauss_newton=False)


def gauss_newton_vector_product(spec: NetworkSpec, theta, X, Y, v, weight=None):
    """The Gauss-Newton matrix G (Schraudolph 2002) times v; G is positive semi-definite.

    The L2 penalty's Hessian (l2/m on the weights) is added, as it is in H.

    Parameters
    ----------
    spec : NetworkSpec
        The network's layer sizes, activations, loss and l2.
    theta : array, shape (n_parameters,)
        The parameters.
    X : array, shape (m, n_inputs)
        Inputs.
    Y : array, shape (m, n_outputs)
        Targets, one-hot for classification.
    v : array, shape (n_parameters,)
        The direction, in theta's layout.
    weight : array, shape (m,), optional
        Per-sample weights, as :func:`bpnet_xp.network.loss_and_grad`.

    Returns
    -------
    array, shape (n_parameters,)
        G v, in theta's layout, namespace and device.
    """
    return _product(spec, theta, X, Y, v, weight, gauss_newton=True)


def weight_mask(spec: NetworkSpec, like):
    """1 on the entries of theta that the L2 penalty touches (weights), 0 on biases.

    Parameters
    ----------
    spec : NetworkSpec
        The layer shapes.
    like : array, shape (n_parameters,)
        Gives the namespace, dtype and device.

    Returns
    -------
    array, shape (n_parameters,)
        The 0/1 mask.
    """
    xp = array_namespace(like)
    parts = []
    for ((n_in, n_out), _), _ in zip(spec.shapes, spec.offsets):
        parts += [xp.ones(n_in * n_out, dtype=like.dtype, device=like.device),
                  xp.zeros(n_out, dtype=like.dtype, device=like.device)]
    return xp.concat(parts)


def _require_mse(spec: NetworkSpec) -> None:
    if spec.loss.name != "mse":
        raise ValueError(f"residual Jacobians need the mse loss (sum of squared residuals), got {spec.loss.name!r}; "
                         "use 'newton' or 'scg' for other losses")


def residual_jacobian(spec: NetworkSpec, theta, X):
    """The Jacobian of the residuals e_ik = a_ik - y_ik with respect to theta (mse only).

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)

    Returns
    -------
    array, shape (m * n_outputs, n_parameters)
        Row ``i * n_outputs + k`` is de_ik/dtheta (the targets do not enter), the row
        order of ``reshape(A - Y, (-1,))``.  It holds m K P numbers: call it on row chunks.
    """
    _require_mse(spec)
    xp = array_namespace(theta, X)
    layers = unpack(spec, theta)
    A, inputs = X, []
    for W, b in layers[:-1]:
        inputs.append(A)
        A = spec.activation.function(A @ W + b)
    inputs.append(A)
    W, b = layers[-1]
    out = spec.output.function(A @ W + b)
    m, K = X.shape[0], out.shape[1]
    slope = spec.output.derivative(out)  # (m, K)
    eye = xp.eye(K, dtype=out.dtype, device=out.device)
    # D[i, k, :] = de_ik/dZ_L: the k-th unit vector times f'(z_ik), for every sample and output.
    D = slope[:, :, None] * eye[None, :, :]
    parts = []
    for layer in range(len(layers) - 1, -1, -1):
        W, _ = layers[layer]
        A_in = inputs[layer]
        n_in, n_out = W.shape
        parts.append(D)  # the bias block: de/db = D
        parts.append(xp.reshape(A_in[:, None, :, None] * D[:, :, None, :], (m, K, n_in * n_out)))
        if layer > 0:
            D = (D @ W.T) * spec.activation.derivative(A_in)[:, None, :]
    parts.reverse()
    return xp.reshape(xp.concat(parts, axis=2), (m * K, spec.n_parameters))


def jacobian_bytes(spec: NetworkSpec, rows: int, itemsize: int = 8) -> int:
    """Bytes of one chunk of J (rows x n_outputs x P) plus J^T J (P x P): what lm holds.

    Parameters
    ----------
    spec : NetworkSpec
        Gives P and the outputs.
    rows : int
        Rows per chunk of J.
    itemsize : int
        Bytes per number (8: float64).

    Returns
    -------
    int
        The bytes.
    """
    P = spec.n_parameters
    return itemsize * (rows * spec.layer_sizes[-1] * P + P * P + 2 * P)


def normal_equations(spec: NetworkSpec, theta, X, Y, *, chunk_rows: int = 1024):
    """Sums over row chunks: (sum of squared residuals, J^T J, J^T e), mse only.

    Parameters
    ----------
    spec : NetworkSpec
    theta : array, shape (n_parameters,)
    X : array, shape (m, n_inputs)
    Y : array, shape (m, n_outputs)
    chunk_rows : int
        Rows per chunk of J: the memory is one (chunk_rows K) x P block plus P x P.

    Returns
    -------
    sse : 0-d array
        sum_ik e_ik^2 (no 1/m, no penalty).
    JTJ : array, shape (n_parameters, n_parameters)
    JTe : array, shape (n_parameters,)
    """
    xp = array_namespace(theta, X, Y)
    m = X.shape[0]
    sse, JTJ, JTe = 0.0, None, None
    for start in range(0, m, chunk_rows):
        stop = min(start + chunk_rows, m)  # the standard leaves out-of-range slice stops undefined
        Xc, Yc = X[start:stop, ...], Y[start:stop, ...]
        J = residual_jacobian(spec, theta, Xc)
        e = xp.reshape(outputs(spec, theta, Xc) - Yc, (-1,))
        block, vector = J.T @ J, J.T @ e
        JTJ = block if JTJ is None else JTJ + block
        JTe = vector if JTe is None else JTe + vector
        sse = sse + xp.sum(e * e)
    if JTJ is None:
        raise ValueError("normal_equations needs at least one row")
    return sse, JTJ, JTe


def outputs(spec: NetworkSpec, theta, X):
    """The network's output activations a (m, K), for the residuals e = a - y.

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    theta : array, shape (n_parameters,)
        The parameters.
    X : array, shape (m, n_inputs)
        Inputs.

    Returns
    -------
    array, shape (m, n_outputs)
        The output activations.
    """
    return forward(spec, theta, X)[1]


class CurvatureObjective:
    """The full-batch objective of the second-order trainers on data held on the device.

    Calling it with theta gives ``(loss, grad)`` (through ``objective``, the network's
    possibly compiled :func:`bpnet_xp.network.loss_and_grad`); it also offers
    :meth:`hessian_vector_product`, :meth:`gauss_newton_vector_product` and
    :meth:`normal_equations`, all on the same (X, Y, weight).

    Parameters
    ----------
    spec : NetworkSpec
        The network.
    X : array, shape (m, n_inputs)
        Inputs on the device.
    Y : array, shape (m, n_outputs)
        Targets on the device.
    weight : array, shape (m,), optional
        Per-sample weights.
    objective : callable, optional
        ``objective(spec, theta, X, Y[, weight]) -> (loss, grad)`` (default
        :func:`bpnet_xp.network.loss_and_grad`).
    """

    def __init__(self, spec: NetworkSpec, X, Y, weight=None, objective=None):
        self.spec, self.X, self.Y, self.weight = spec, X, Y, weight
        self.objective = loss_and_grad if objective is None else objective
        self.n_samples = X.shape[0]

    def __call__(self, theta):
        extra = () if self.weight is None else (self.weight,)
        return self.objective(self.spec, theta, self.X, self.Y, *extra)

    def hessian_vector_product(self, theta, v):
        """H v of J on this data (:func:`hessian_vector_product`).

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The parameters.
        v : array, shape (n_parameters,)
            The direction.

        Returns
        -------
        array, shape (n_parameters,)
            H v.
        """
        return hessian_vector_product(self.spec, theta, self.X, self.Y, v, self.weight)

    def gauss_newton_vector_product(self, theta, v):
        """G v of J on this data (:func:`gauss_newton_vector_product`).

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The parameters.
        v : array, shape (n_parameters,)
            The direction.

        Returns
        -------
        array, shape (n_parameters,)
            G v.
        """
        return gauss_newton_vector_product(self.spec, theta, self.X, self.Y, v, self.weight)

    def sum_of_squares(self, theta):
        """sum_ik (a_ik - y_ik)^2 at theta (mse), a 0-d array: one forward pass.

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The parameters.

        Returns
        -------
        0-d array
            The sum of squared residuals.
        """
        xp = array_namespace(theta)
        e = outputs(self.spec, theta, self.X) - self.Y
        return xp.sum(e * e)

    def normal_equations(self, theta):
        """:func:`normal_equations` on this data (no sample weights: "lm"/"br" refuse them).

        Parameters
        ----------
        theta : array, shape (n_parameters,)
            The parameters.

        Returns
        -------
        sse, JTJ, JTe : arrays
            Shapes (), (n_parameters, n_parameters), (n_parameters,).
        """
        if self.weight is not None:
            raise ValueError("'lm' and 'br' do not take sample_weight yet; use 'newton' or 'scg'")
        return normal_equations(self.spec, theta, self.X, self.Y)
