"""Cross-entropy family: softmax and sigmoid cross-entropy, NLL, label smoothing.

Each loss is followed by its closed-form gradient (``_<name>_grad``): the
analytic derivative of the *summed* loss with respect to the first argument,
derived by hand and re-exported as :mod:`jaxlosses.closed_form`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import (
    class_labels,
    nonnegative,
    normalisable,
    register_checks,
    simplex,
    unit_interval,
)
from ._core import (
    Axis,
    canonical_axes,
    canonical_axis,
    check_same_shape,
    closed_form_of,
    floating,
    gather_last,
    hyperparameter,
    integer,
    integer_inputs,
    mask_for,
    real,
    restore_classes,
    soft_inputs,
    upcast,
)
from ._primitives import log_softmax_parts, lse_of_shifted, shift

__all__ = [
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "negative_log_likelihood",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "smooth_labels",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]

_LOG_CLAMP = -100.0  # PyTorch's floor on log(p) in binary_cross_entropy


# --- shared input handling ----------------------------------------------------------


def smoothing(label_smoothing: ArrayLike, fn: str) -> ArrayLike:
    """``label_smoothing`` checked to lie in ``[0, 1]`` (the mass moved to the uniform)."""
    return hyperparameter(
        label_smoothing, "label_smoothing", fn, low=0.0, high=1.0,
        why="it is the probability mass moved to the uniform distribution (torch and "
        "Keras take it in [0, 1]); 0.1 is usual",
    )  # fmt: skip


def _smooth(
    y: jax.Array, alpha: ArrayLike, axes: tuple[int, ...], mask: jax.Array | None
) -> jax.Array:
    """``(1 - alpha) * y + alpha / K`` with ``K`` the number of unmasked classes."""
    if isinstance(alpha, int | float) and alpha == 0:
        return y
    if mask is None:
        k = jnp.asarray(math.prod(y.shape[a] for a in axes), y.dtype)
    else:
        k = jnp.maximum(jnp.sum(mask, axis=axes, keepdims=True), 1).astype(y.dtype)
    a = jnp.asarray(alpha, y.dtype)
    return (1.0 - a) * y + a / k


def class_weights(
    weights: ArrayLike | None, class_shape: tuple[int, ...], dtype: Any, fn: str
) -> jax.Array | None:
    """Validated per-class weights of shape ``class_shape`` (torch's ``weight``), or None."""
    if weights is None:
        return None
    w = floating(weights, "weights", fn)
    if w.shape != class_shape:
        raise ValueError(
            f"{fn}: `weights` has shape {w.shape}; expected {class_shape}, one weight per "
            "class (torch's `weight`). Per-example weights belong in the reduction: "
            "`jaxlosses.masked_mean(losses, weights=...)`."
        )
    return w.astype(dtype)


def z_coefficient(z_loss: ArrayLike, dtype: Any, fn: str) -> jax.Array | None:
    """The z-loss coefficient as a scalar of ``dtype``; None for a literal 0 (no term)."""
    if isinstance(z_loss, int | float) and z_loss == 0:
        return None
    z = real(z_loss, "z_loss", fn)
    if z.ndim != 0:
        raise ValueError(f"{fn}: `z_loss` has shape {z.shape}; pass a scalar coefficient.")
    return z.astype(dtype)


def finite_lse(lse: jax.Array) -> jax.Array:
    """The log-normaliser with empty (fully masked) slices read as 0, for the z-loss."""
    return jnp.where(jnp.isneginf(lse), 0.0, lse)


def _smoothed_soft_inputs(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    label_smoothing: ArrayLike,
    weights: ArrayLike | None,
    z_loss: ArrayLike,
    fn: str,
) -> tuple[
    jax.Array,
    jax.Array,
    jax.Array,
    tuple[int, ...],
    jax.Array | None,
    jax.Array | None,
    jax.Array | None,
]:
    """(logits, soft labels) validated, labels smoothed.

    Returns ``(original, x, y, axes, mask, w, z)``: ``w`` the class weights shaped to
    broadcast against ``x`` (or None), ``z`` the z-loss coefficient (or None).
    """
    label_smoothing = smoothing(label_smoothing, fn)
    arr, x, y, axes, mask = soft_inputs(logits, labels, axis, where, fn)
    w = class_weights(weights, tuple(x.shape[a] for a in axes), x.dtype, fn)
    if w is not None:
        w = w.reshape(tuple(d if i in axes else 1 for i, d in enumerate(x.shape)))
    z = z_coefficient(z_loss, x.dtype, fn)
    return arr, x, _smooth(y, label_smoothing, axes, mask), axes, mask, w, z


# --- label smoothing ----------------------------------------------------------------


def smooth_labels(
    labels: ArrayLike,
    alpha: ArrayLike,
    *,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Label smoothing: mixes the labels with the uniform distribution.

    .. math:: y' = (1 - \alpha)\, y + \alpha / K

    Args:
      labels: one-hot or soft labels ``[..., K]``.
      alpha: the smoothing factor in ``[0, 1]``.
      axis: the class axis or axes.
      where: optional class mask; ``K`` counts the unmasked classes.

    Returns:
      Smoothed labels, shape and dtype of ``labels``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.smooth_labels(jnp.array([1.0, 0.0, 0.0, 0.0]), 0.2).tolist()  # doctest: +ELLIPSIS
      [0.85..., 0.05..., 0.05..., 0.05...]

    References:
      Müller et al., `When does label smoothing help? <https://arxiv.org/abs/1906.02629>`_, 2019.
    """
    fn = "smooth_labels"
    lab = floating(labels, "labels", fn)
    axes = canonical_axes(axis, lab.ndim, "labels", fn)
    mask = mask_for(where, lab.shape, axes, fn)
    return _smooth(upcast(lab), alpha, axes, mask).astype(lab.dtype)


# --- softmax cross-entropy ----------------------------------------------------------


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    *,
    label_smoothing: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
    z_loss: ArrayLike = 0.0,
) -> jax.Array:
    r"""Softmax cross-entropy between logits and one-hot or soft labels.

    .. math:: \ell(x, y) = -\sum_k w_k y_k \log \operatorname{softmax}(x)_k
       + \lambda \operatorname{lse}(x)^2

    The categorical negative log-likelihood of a softmax output layer, computed from
    logits in log space (never ``log(softmax(x))``). Same name, arguments and values as
    :func:`optax.losses.softmax_cross_entropy`, plus ``label_smoothing``, class
    ``weights`` and ``z_loss``. With ``weights`` and ``label_smoothing`` this is
    ``torch.nn.functional.cross_entropy(x, y, weight=w, label_smoothing=α,
    reduction='none')`` for probability targets (the smoothed labels are weighted too);
    torch's ``reduction='mean'`` for probability targets is the plain mean of these
    values, ``jnp.mean(loss)``.

    Args:
      logits: unnormalised log-probabilities ``[..., K]``.
      labels: target distributions, same shape as ``logits``.
      axis: the class axis or axes.
      where: optional mask of the logits' shape (or the batch shape); masked classes are
        left out of the normaliser and the sum, so ``-inf`` logits there are safe. A fully
        masked row gives 0.
      label_smoothing: ``alpha``; labels become ``(1 - alpha) y + alpha / K``.
      weights: optional class weights ``w``, shape ``[K]`` (the shape of the class axes),
        torch's ``weight``.
      z_loss: ``λ``, coefficient of the z-loss ``lse(x)²`` of PaLM / T5X (the same term
        as :func:`linear_softmax_cross_entropy`'s); not class-weighted.

    Returns:
      Per-example loss, shape ``logits.shape`` without ``axis``, dtype of ``logits``.
      Unchecked behaviour: an unmasked ``-inf`` logit gives ``inf`` (label > 0) or NaN
      (label 0); use :func:`safe_softmax_cross_entropy` or ``where`` for those.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
      >>> labels = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
      >>> jl.softmax_cross_entropy(logits, labels).round(4).tolist()
      [0.2761, 2.9518]

    References:
      Goodfellow, Bengio and Courville, `Deep Learning <https://www.deeplearningbook.org>`_,
      section 6.2.2.3, 2016.
    """
    arr, x, y, axes, mask, w, z = _smoothed_soft_inputs(
        logits, labels, axis, where, label_smoothing, weights, z_loss, "softmax_cross_entropy"
    )
    log_probs, _, lse = log_softmax_parts(x, axes, mask)
    yw = y if w is None else w * y
    loss = -jnp.sum(yw * log_probs, axis=axes, where=mask)
    return _plus_z_loss(loss, lse, z, axes).astype(arr.dtype)


def _plus_z_loss(
    loss: jax.Array, lse: jax.Array, z: jax.Array | None, axes: tuple[int, ...]
) -> jax.Array:
    """``loss + λ lse²`` (``lse`` keepdims over ``axes``; 0 for an empty row)."""
    if z is None:
        return loss
    return loss + z * jnp.squeeze(finite_lse(lse), axes) ** 2


def _softmax_ce_derivative(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    axes: tuple[int, ...],
    mask: jax.Array | None,
    w: jax.Array | None,
    z: jax.Array | None,
) -> jax.Array:
    """d/dlogits of the summed loss: ``(Σ_k w_k y_k + 2λ lse) softmax(x) - w y``.

    (``softmax - y`` for one-hot labels without weights or z-loss.)
    """
    if mask is not None:
        y = jnp.where(mask, y, 0.0)
    if w is not None:
        y = w * y
    _, probs, lse = log_softmax_parts(x, axes, mask)
    c = jnp.sum(y, axis=axes, keepdims=True)
    if z is not None:
        c = c + 2.0 * z * finite_lse(lse)
    return (c * probs - y).astype(arr.dtype)


_softmax_cross_entropy_grad = closed_form_of(softmax_cross_entropy, _smoothed_soft_inputs)(
    _softmax_ce_derivative
)


def safe_softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    label_smoothing: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
    z_loss: ArrayLike = 0.0,
) -> jax.Array:
    r"""Softmax cross-entropy that treats ``0 · log 0`` as 0 for ``-inf`` logits.

    .. math:: \ell(x, y) = -\sum_{k: y_k \neq 0} y_k \log \operatorname{softmax}(x)_k

    As :func:`optax.losses.safe_softmax_cross_entropy`: classes whose logit is ``-inf``
    and whose label is 0 contribute 0 (not NaN) to the value and the gradient.

    Args:
      logits: ``[..., K]``, may hold ``-inf`` for impossible classes.
      labels: target distributions, same shape; 0 wherever the logit is ``-inf``.
      axis: the class axis or axes (keyword-only extension).
      where: optional class mask (keyword-only extension).
      label_smoothing: ``alpha`` (keyword-only extension). Smoothing puts mass on every
        unmasked class, so combine it with ``where`` rather than ``-inf`` logits.
      weights: optional class weights ``[K]``, as in :func:`softmax_cross_entropy`.
      z_loss: ``λ`` of the ``λ lse(x)²`` term, as in :func:`softmax_cross_entropy`.

    Returns:
      Per-example loss, shape ``logits.shape`` without ``axis``. A positive label on a
      ``-inf`` logit gives ``inf`` (the true value). The derivative with respect to a label
      is ``-log softmax(x)_k`` (as for :func:`softmax_cross_entropy`), and 0 for a zero
      label on a ``-inf`` logit (the ``0 · log 0 = 0`` convention).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.array([0.0, 0.0, -jnp.inf])
      >>> labels = jnp.array([1.0, 0.0, 0.0])
      >>> float(jl.safe_softmax_cross_entropy(logits, labels))  # doctest: +ELLIPSIS
      0.693...
    """
    arr, x, y, axes, mask, w, z = _smoothed_soft_inputs(
        logits, labels, axis, where, label_smoothing, weights, z_loss, "safe_softmax_cross_entropy"
    )
    log_probs, _, lse = log_softmax_parts(x, axes, mask)
    # 0 · log 0 = 0 only where the label is 0 *and* the class impossible (-inf logit):
    # elsewhere y · log p, so the derivative w.r.t. a zero label is log p, not 0.
    impossible = jnp.isneginf(log_probs) & (y == 0)
    terms = (y if w is None else w * y) * jnp.where(impossible, 0.0, log_probs)
    loss = -jnp.sum(terms, axis=axes, where=mask)
    return _plus_z_loss(loss, lse, z, axes).astype(arr.dtype)


# The same derivative as softmax_cross_entropy's (zero labels on -inf logits add 0), under
# the safe loss's own signature: `axis` and `where` keyword-only.
_safe_softmax_cross_entropy_grad = closed_form_of(
    safe_softmax_cross_entropy, _smoothed_soft_inputs
)(_softmax_ce_derivative)


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis = -1,
    where: ArrayLike | None = None,
    *,
    label_smoothing: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
    z_loss: ArrayLike = 0.0,
) -> jax.Array:
    r"""Softmax cross-entropy with integer class labels (sparse categorical cross-entropy).

    .. math:: \ell(x, y) = (1 - \alpha)\, w_y (\operatorname{lse}(x) - x_y)
       + \frac{\alpha}{K} \sum_k w_k (\operatorname{lse}(x) - x_k)
       + \lambda \operatorname{lse}(x)^2

    (``lse(x) - x_y`` with the defaults). Computed as the log-normaliser minus the
    gathered logit, so only one class per row is touched after the ``logsumexp``. Same
    name, arguments and values as
    :func:`optax.losses.softmax_cross_entropy_with_integer_labels`, plus
    ``label_smoothing``, class ``weights`` and ``z_loss``; with ``weights`` and
    ``label_smoothing`` it equals ``torch.nn.functional.cross_entropy(x, y, weight=w,
    label_smoothing=α, reduction='none')``, whose smoothing term is class-weighted too.

    Torch's ``reduction='mean'`` divides the summed loss by the summed weight of the
    targets, ``Σ_i w_{y_i}`` over the kept examples (not by their number)::

        loss = softmax_cross_entropy_with_integer_labels(x, y, where=keep, weights=w)
        mean = masked_mean(loss, keep) / masked_mean(w[y], keep)

    (the ratio of two means over the same mask is the ratio of the sums, and the same
    recipe works across devices with :func:`jaxlosses.parallel.sharded_mean`).

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(softmax_cross_entropy_with_integer_labels)`` raises instead.

    Args:
      logits: ``[..., K]`` (or any layout with ``axis`` naming the class axis; a tuple of
        axes is flattened in the order given, as optax: with ``axis=(3, 2)`` label
        ``l`` is the class at ``i3 = l // shape[2]``, ``i2 = l % shape[2]``).
      labels: integer class indices, shape ``logits.shape`` without ``axis``.
      axis: the class axis or axes.
      where: optional mask of the logits' shape (class mask) or of the labels' shape
        (example mask; torch's ``ignore_index`` is ``where=labels != ignore``). Fully
        masked rows give 0 with a zero gradient.
      label_smoothing: α, the mass spread uniformly over the unmasked classes.
      weights: optional class weights ``w``, shape ``[K]`` (torch's ``weight``).
      z_loss: ``λ``, coefficient of the z-loss ``lse(x)²`` of PaLM / T5X (the same term
        as :func:`linear_softmax_cross_entropy`'s); not class-weighted.

    Returns:
      Per-example loss with the labels' shape. Unchecked behaviour: an unmasked label
      outside ``[0, K)`` gives NaN for that example (and zero gradient); a masked example
      gives 0 whatever its label (so ``-100`` padding labels are fine under ``where``).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> logits = jnp.array([[1.2, -0.8, -0.5], [0.9, -1.2, 1.1]])
      >>> jl.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 1])).round(4).tolist()
      [0.2761, 2.9518]

      With class weights, torch's weighted mean divides by the targets' summed weight:

      >>> w = jnp.array([2.0, 1.0, 1.0])
      >>> y = jnp.array([0, 1])
      >>> loss = jl.softmax_cross_entropy_with_integer_labels(logits, y, weights=w)
      >>> loss.round(4).tolist()
      [0.5523, 2.9518]
      >>> round(float(loss.sum() / w[y].sum()), 4)
      1.168
    """
    arr, x, y, mask, in_range, _, _, w, z = _integer_ce_inputs(
        logits,
        labels,
        axis,
        where,
        label_smoothing,
        weights,
        z_loss,
        "softmax_cross_entropy_with_integer_labels",
    )
    shifted, m = shift(x, (x.ndim - 1,), mask)
    lse = lse_of_shifted(shifted, (x.ndim - 1,))[..., 0]
    nonempty = ~jnp.isneginf(lse)  # a NaN or +inf normaliser is not an empty row
    lse = jnp.where(nonempty, lse, 0.0)
    target = gather_last(shifted, y)
    loss = lse - target
    if w is not None:  # an empty row's inf gap must not meet a weight's zero cotangent
        loss = w[y] * jnp.where(nonempty, loss, 0.0)
    if not (isinstance(label_smoothing, int | float) and label_smoothing == 0):
        a = jnp.asarray(label_smoothing, x.dtype)
        valid = jnp.isfinite(shifted)
        count = jnp.maximum(jnp.sum(valid, axis=-1), 1)
        if w is None:
            mean = jnp.sum(jnp.where(valid, shifted, 0.0), axis=-1) / count
            smooth = lse - mean
        else:  # (1/K) Σ_k w_k (lse - x_k) over the unmasked classes
            gap = jnp.where(valid, lse[..., None] - jnp.where(valid, shifted, 0.0), 0.0)
            smooth = jnp.sum(w.reshape(_lead_ones(gap) + w.shape) * gap, axis=-1) / count
        loss = (1.0 - a) * loss + a * smooth
    if z is not None:
        loss = loss + z * (lse + m[..., 0]) ** 2
    # A masked (ignored) example is 0 whatever its label; an unmasked invalid label is NaN.
    loss = jnp.where(in_range, loss, jnp.nan)
    return jnp.where(nonempty, loss, 0.0).astype(arr.dtype)


def _lead_ones(x: jax.Array) -> tuple[int, ...]:
    """Ones for the batch axes of ``x`` (classes last): how a ``[K]`` vector broadcasts."""
    return (1,) * (x.ndim - 1)


def _integer_ce_inputs(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    label_smoothing: ArrayLike,
    weights: ArrayLike | None,
    z_loss: ArrayLike,
    fn: str,
) -> tuple[
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array | None,
    jax.Array,
    Axis,
    ArrayLike,
    jax.Array | None,
    jax.Array | None,
]:
    """:func:`integer_inputs` (classes last), the static ``axis`` and ``label_smoothing``,
    then the class weights ``[K]`` and the z-loss coefficient (each None when absent)."""
    label_smoothing = smoothing(label_smoothing, fn)
    arr, x, y, mask, in_range = integer_inputs(logits, labels, axis, where, fn)
    w = class_weights(weights, x.shape[-1:], x.dtype, fn)
    z = z_coefficient(z_loss, x.dtype, fn)
    return arr, x, y, mask, in_range, axis, label_smoothing, w, z


@closed_form_of(softmax_cross_entropy_with_integer_labels, _integer_ce_inputs)
def _softmax_cross_entropy_with_integer_labels_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    mask: jax.Array | None,
    in_range: jax.Array,
    axis: Axis,
    label_smoothing: ArrayLike,
    w: jax.Array | None,
    z: jax.Array | None,
) -> jax.Array:
    """``(Σ_k w_k y'_k + 2λ lse) softmax(x) - w y'`` with ``y'`` the (smoothed) one-hot
    label; ``softmax(x) - y'`` by default; 0 for invalid rows."""
    last = (x.ndim - 1,)
    _, probs, lse = log_softmax_parts(x, last, mask)
    onehot = jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype)
    valid = jnp.isfinite(x) if mask is None else mask & jnp.isfinite(x)
    target = _smooth(onehot, label_smoothing, last, valid)
    if w is not None:
        target = w.reshape(_lead_ones(target) + w.shape) * target
    target = jnp.where(valid, target, 0.0)
    c = jnp.ones((), x.dtype) if w is None else jnp.sum(target, axis=-1, keepdims=True)
    if z is not None:
        c = c + 2.0 * z * finite_lse(lse)
    g = c * probs - target
    nonempty = jnp.any(valid, axis=-1, keepdims=True)
    g = jnp.where(in_range[..., None] & nonempty, g, 0.0)
    return restore_classes(g, arr.shape, axis).astype(arr.dtype)


def negative_log_likelihood(
    log_probs: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    where: ArrayLike | None = None,
    weights: ArrayLike | None = None,
) -> jax.Array:
    r"""Negative log-likelihood of integer labels under given log-probabilities.

    .. math:: \ell(\log p, y) = -w_y \log p_y

    The maximum-likelihood loss for a model that already outputs log-probabilities
    (e.g. a ``log_softmax`` output layer); ``torch.nn.functional.nll_loss`` with
    ``reduction='none'``. ``softmax_cross_entropy_with_integer_labels(x, y)`` equals
    ``negative_log_likelihood(log_softmax(x), y)``.

    Unchecked, a label outside ``[0, K)`` (``labels`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked(negative_log_likelihood)`` raises instead.

    Args:
      log_probs: ``[..., K]`` log-probabilities.
      labels: integer class indices, shape ``log_probs.shape`` without ``axis``.
      axis: the class axis.
      where: optional example mask with the labels' shape; masked examples give 0
        (torch's ``ignore_index``).
      weights: optional per-class weights ``[K]`` (torch's ``weight``).

    Returns:
      Per-example loss with the labels' shape; NaN for an unmasked label outside ``[0, K)``,
      0 for a masked one whatever its value.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> lp = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
      >>> jl.negative_log_likelihood(lp, jnp.array([1])).round(4).tolist()
      [1.3863]
    """
    arr, x, y, w, keep, in_range, _ = _nll_inputs(
        log_probs, labels, axis, where, weights, "negative_log_likelihood"
    )
    loss = jnp.where(in_range, -w * gather_last(x, y), jnp.nan)
    return jnp.where(keep, loss, 0.0).astype(arr.dtype)


def _nll_inputs(
    log_probs: ArrayLike,
    labels: ArrayLike,
    axis: int,
    where: ArrayLike | None,
    weights: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, int]:
    """Returns ``(orig, x (classes last), y, w_y, keep, in_range, class axis)``."""
    arr = floating(log_probs, "log_probs", fn)
    ax = canonical_axis(axis, arr.ndim, "log_probs", fn)
    lab = integer(labels, "labels", fn)
    batch_shape = arr.shape[:ax] + arr.shape[ax + 1 :]
    if lab.shape != batch_shape:
        raise ValueError(
            f"{fn}: `labels` has shape {lab.shape} but `log_probs` {arr.shape} with class "
            f"axis {axis} needs labels of shape {batch_shape}."
        )
    x = jnp.moveaxis(upcast(arr), ax, -1)
    k = x.shape[-1]
    in_range = (lab >= 0) & (lab < k)
    y = jnp.where(in_range, lab, 0)
    if weights is None:
        w = jnp.ones(lab.shape, x.dtype)
    else:
        wv = floating(weights, "weights", fn)
        if wv.shape != (k,):
            raise ValueError(
                f"{fn}: `weights` has shape {wv.shape}; expected ({k},), one per class."
            )
        w = wv.astype(x.dtype)[y]
    keep = jnp.ones(lab.shape, bool)
    if where is not None:
        try:
            keep = jnp.broadcast_to(jnp.asarray(where), lab.shape).astype(bool)
        except ValueError:
            raise ValueError(
                f"{fn}: `where` with shape {jnp.shape(where)} does not broadcast to the "
                f"labels' shape {lab.shape}; it masks examples, so pass a boolean mask of "
                f"shape {lab.shape}."
            ) from None
    return arr, x, y, w, keep, in_range, ax


@closed_form_of(negative_log_likelihood, _nll_inputs)
def _negative_log_likelihood_grad(
    arr: jax.Array,
    x: jax.Array,
    y: jax.Array,
    w: jax.Array,
    keep: jax.Array,
    in_range: jax.Array,
    ax: int,
) -> jax.Array:
    """``-w_y`` at the label's class, 0 elsewhere."""
    scale = jnp.where(keep & in_range, -w, 0.0)
    g = jax.nn.one_hot(y, x.shape[-1], dtype=x.dtype) * scale[..., None]
    return jnp.moveaxis(g, -1, ax).astype(arr.dtype)


# --- sigmoid / binary cross-entropy -------------------------------------------------


def _binary_inputs(
    first: ArrayLike, labels: ArrayLike, first_name: str, label_smoothing: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    label_smoothing = smoothing(label_smoothing, fn)
    arr = floating(first, first_name, fn)
    lab = real(labels, "labels", fn)
    check_same_shape(arr, lab, (first_name, "labels"), fn)
    x = upcast(arr)
    y = jnp.broadcast_to(lab.astype(x.dtype), x.shape)
    if not (isinstance(label_smoothing, int | float) and label_smoothing == 0):
        a = jnp.asarray(label_smoothing, x.dtype)
        y = (1.0 - a) * y + 0.5 * a
    return arr, x, y


def _broadcast_weight(weight: ArrayLike | None, name: str, x: jax.Array, fn: str) -> jax.Array:
    if weight is None:
        return jnp.ones((), x.dtype)
    w = floating(weight, name, fn)
    try:
        return jnp.broadcast_to(w.astype(x.dtype), x.shape)
    except ValueError:
        raise ValueError(
            f"{fn}: `{name}` with shape {w.shape} does not broadcast to `logits` "
            f"{x.shape}; pass a scalar or one weight per class ({x.shape[-1:]})."
        ) from None


def _sigmoid_bce_inputs(
    logits: ArrayLike,
    labels: ArrayLike,
    pos_weight: ArrayLike | None,
    label_smoothing: ArrayLike,
    weights: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns ``(orig, x, y (smoothed), w (pos_weight), c (weights))``."""
    arr, x, y = _binary_inputs(logits, labels, "logits", label_smoothing, fn)
    pw = _broadcast_weight(pos_weight, "pos_weight", x, fn)
    return arr, x, y, pw, _broadcast_weight(weights, "weights", x, fn)


def sigmoid_binary_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    *,
    pos_weight: ArrayLike | None = None,
    label_smoothing: ArrayLike = 0.0,
    weights: ArrayLike | None = None,
) -> jax.Array:
    r"""Element-wise sigmoid (binary) cross-entropy from logits.

    .. math:: \ell(x, y) = -\,c\,[\,w\, y \log \sigma(x) + (1 - y) \log \sigma(-x)\,]

    The Bernoulli negative log-likelihood of a sigmoid output layer, using
    ``log σ(-x)`` for ``log(1 - σ(x))`` so it is exact for logits of any magnitude.
    :func:`optax.losses.sigmoid_binary_cross_entropy` plus PyTorch's ``pos_weight``
    and ``weight`` (``binary_cross_entropy_with_logits(x, y, weight=c, pos_weight=w,
    reduction='none')``) and Keras-style ``label_smoothing``. Torch's
    ``reduction='mean'`` is the plain mean of these values, ``jnp.mean(loss)``.

    Args:
      logits: any shape.
      labels: targets in ``[0, 1]``, same shape as ``logits`` (or a scalar).
      pos_weight: ``w``, weight of the positive term; broadcast against ``logits``
        (e.g. one per class ``[K]``).
      label_smoothing: α; labels become ``(1 - α) y + α / 2``.
      weights: ``c``, weight of the whole term (torch's ``weight``); broadcast against
        ``logits`` (e.g. one per class ``[K]``).

    Returns:
      Element-wise loss, shape and dtype of ``logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.sigmoid_binary_cross_entropy(jnp.array([0.0, 1e4]), jnp.array([1.0, 0.0])).tolist()
      [0.6931471824645996, 10000.0]
    """
    arr, x, y, w, c = _sigmoid_bce_inputs(
        logits, labels, pos_weight, label_smoothing, weights, "sigmoid_binary_cross_entropy"
    )
    log_p = -jnp.logaddexp(-x, 0.0)
    log_not_p = -jnp.logaddexp(x, 0.0)
    return (-c * (w * y * log_p + (1.0 - y) * log_not_p)).astype(arr.dtype)


@closed_form_of(sigmoid_binary_cross_entropy, _sigmoid_bce_inputs)
def _sigmoid_binary_cross_entropy_grad(
    arr: jax.Array, x: jax.Array, y: jax.Array, w: jax.Array, c: jax.Array
) -> jax.Array:
    """``c [σ(x)(1 + (w - 1) y) - w y]``, which is ``σ(x) - y`` for ``c = w = 1``."""
    s = jax.lax.logistic(x)
    return (c * (s * (1.0 + (w - 1.0) * y) - w * y)).astype(arr.dtype)


def _clamped_log(p: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``max(log p, -100)`` with a zero (not NaN) gradient where clamped; and the mask."""
    lp = jnp.log(jnp.where(p > 0, p, 1.0))
    ok = (p > 0) & (lp > _LOG_CLAMP)
    # A NaN probability stays NaN (it is not a clamped 0: the loss would read 100).
    return jnp.where(ok, lp, jnp.where(jnp.isnan(p), p, _LOG_CLAMP)), ok


def _bce_inputs(
    probabilities: ArrayLike, labels: ArrayLike, label_smoothing: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Returns ``(orig, p, y (smoothed))``."""
    return _binary_inputs(probabilities, labels, "probabilities", label_smoothing, fn)


def binary_cross_entropy(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
    r"""Binary cross-entropy from probabilities (models that end in a sigmoid).

    .. math:: \ell(p, y) = -\,[\,y \log p + (1 - y) \log (1 - p)\,]

    with each log clamped below at -100, exactly as
    ``torch.nn.functional.binary_cross_entropy(p, y, reduction='none')``.
    This is the less stable path: ``σ`` saturates to exactly 0 or 1 in floating point
    for ``|x| > ~17`` (float32), after which the loss is clamped and the gradient is
    lost. Prefer :func:`sigmoid_binary_cross_entropy` on logits.

    Args:
      probabilities: ``p`` in ``[0, 1]``, any shape.
      labels: targets in ``[0, 1]``, same shape (or a scalar).
      label_smoothing: α; labels become ``(1 - α) y + α / 2``.

    Returns:
      Element-wise loss, shape and dtype of ``probabilities``; at most 100 per element.
      Unchecked behaviour: ``p`` outside ``[0, 1]`` gives NaN.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.binary_cross_entropy(jnp.array([0.5, 0.0]), jnp.array([1.0, 1.0])).tolist()
      [0.6931471824645996, 100.0]
    """
    arr, p, y = _bce_inputs(probabilities, labels, label_smoothing, "binary_cross_entropy")
    log_p, _ = _clamped_log(p)
    log_q, _ = _clamped_log(1.0 - p)
    return (-(y * log_p + (1.0 - y) * log_q)).astype(arr.dtype)


@closed_form_of(binary_cross_entropy, _bce_inputs)
def _binary_cross_entropy_grad(arr: jax.Array, p: jax.Array, y: jax.Array) -> jax.Array:
    """``-y/p + (1 - y)/(1 - p)``, each term 0 where its log is clamped."""
    _, ok_p = _clamped_log(p)
    _, ok_q = _clamped_log(1.0 - p)
    g = jnp.where(ok_p, -y / jnp.where(ok_p, p, 1.0), 0.0) + jnp.where(
        ok_q, (1.0 - y) / jnp.where(ok_q, 1.0 - p, 1.0), 0.0
    )
    return g.astype(arr.dtype)


def _categorical_inputs(
    probabilities: ArrayLike,
    labels: ArrayLike,
    axis: int,
    eps: float,
    label_smoothing: ArrayLike,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, tuple[int, ...]]:
    label_smoothing = smoothing(label_smoothing, fn)
    arr = floating(probabilities, "probabilities", fn)
    lab = floating(labels, "labels", fn)
    check_same_shape(arr, lab, ("probabilities", "labels"), fn)
    axes = (canonical_axis(axis, arr.ndim, "probabilities", fn),)
    p = upcast(arr)
    y = _smooth(jnp.broadcast_to(lab.astype(p.dtype), p.shape), label_smoothing, axes, None)
    total = jnp.sum(p, axis=axes, keepdims=True)
    q = p / total
    inside = (q > eps) & (q < 1.0 - eps)
    return arr, y, total, q, inside, axes


def categorical_cross_entropy(
    probabilities: ArrayLike,
    labels: ArrayLike,
    *,
    axis: int = -1,
    eps: float = 1e-7,
    label_smoothing: ArrayLike = 0.0,
) -> jax.Array:
    r"""Categorical cross-entropy from probabilities (models that end in a softmax).

    .. math:: \ell(p, y) = -\sum_k y_k \log \operatorname{clip}(p_k / \textstyle\sum_j p_j,
       \epsilon, 1 - \epsilon)

    Keras' ``categorical_crossentropy(y_true, y_pred, from_logits=False)`` math (note the
    swapped argument order): the probabilities are renormalised along ``axis`` and clipped.
    This is the less stable path: probabilities below ``eps`` lose their gradient. Prefer
    :func:`softmax_cross_entropy` on logits.

    Args:
      probabilities: non-negative ``[..., K]``.
      labels: target distributions, same shape.
      axis: the class axis.
      eps: the clipping threshold (Keras' backend epsilon).
      label_smoothing: α; labels become ``(1 - α) y + α / K``.

    Returns:
      Per-example loss, shape without ``axis``, dtype of ``probabilities``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p = jnp.array([[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
      >>> y = jnp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
      >>> jl.categorical_cross_entropy(p, y).round(4).tolist()
      [0.0513, 2.3026]
    """
    arr, y, _, q, _, axes = _categorical_inputs(
        probabilities, labels, axis, eps, label_smoothing, "categorical_cross_entropy"
    )
    logq = jnp.log(jnp.clip(q, eps, 1.0 - eps))
    return (-jnp.sum(y * logq, axis=axes)).astype(arr.dtype)


@closed_form_of(categorical_cross_entropy, _categorical_inputs)
def _categorical_cross_entropy_grad(
    arr: jax.Array,
    y: jax.Array,
    total: jax.Array,
    q: jax.Array,
    inside: jax.Array,
    axes: tuple[int, ...],
) -> jax.Array:
    """With ``q = p / S`` and ``m`` the unclipped indicator: ``(-y m / q + sum(y m)) / S``."""
    ym = jnp.where(inside, y, 0.0)
    g = (-ym / jnp.where(inside, q, 1.0) + jnp.sum(ym, axis=axes, keepdims=True)) / total
    return g.astype(arr.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(softmax_cross_entropy, simplex("labels"))
register_checks(softmax_cross_entropy_with_integer_labels, class_labels())
register_checks(safe_softmax_cross_entropy, unit_interval("labels"))
register_checks(sigmoid_binary_cross_entropy, unit_interval("labels"))
register_checks(binary_cross_entropy, unit_interval("probabilities"), unit_interval("labels"))
register_checks(categorical_cross_entropy, normalisable("probabilities"), simplex("labels"))
register_checks(
    negative_log_likelihood, class_labels("labels", "log_probs"), nonnegative("weights")
)
