"""Overlap losses for segmentation: Dice, Tversky, generalised Dice.

``dice_loss``, ``binary_dice_loss`` and ``multiclass_generalized_dice_loss`` keep
optax's names, arguments and values, including ``dice_loss``'s ``reduction``
argument (default ``"mean"`` over classes) and the scalar output of
``multiclass_generalized_dice_loss``: the documented exceptions to the
per-example rule, kept for drop-in use. Each loss is followed by its closed-form
gradient (``_<name>_grad``) of the *summed* output with respect to the
predictions.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._checks import probabilities_unless, register_checks, unit_interval
from ._core import canonical_axes, closed_form_of, floating, real, upcast
from ._coupling import register_batch_coupled

__all__ = ["binary_dice_loss", "dice_loss", "multiclass_generalized_dice_loss", "tversky_loss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Dice(NamedTuple):
    orig: jax.Array  # the predictions as given (before any trailing axis was added)
    x: jax.Array  # upcast predictions [..., K]
    probs: jax.Array  # activated predictions [..., K]
    t: jax.Array  # targets [..., K]
    axes: tuple[int, ...]  # the summed (spatial) axes
    num: jax.Array  # intersection + smooth, keepdims
    den: jax.Array  # Tversky denominator, keepdims
    weights: jax.Array  # per-class factor [1, ..., 1, K] (class weights, 0 if ignored)
    activation: str  # "softmax", "sigmoid" or "none"
    alpha: jax.Array  # weight of false positives
    beta: jax.Array  # weight of false negatives
    ignore_background: bool  # class 0 left out of the result (when K > 1)
    fn: str  # the loss's name, for error messages


def _dice_parts(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None,
    smooth: ArrayLike,
    alpha: ArrayLike,
    beta: ArrayLike,
    apply_softmax: bool,
    ignore_background: bool,
    axis: int | tuple[int, ...] | None,
    fn: str,
) -> _Dice:
    orig = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    pred = orig
    if pred.ndim == tgt.ndim - 1:
        pred = pred[..., None]
    if tgt.ndim == pred.ndim - 1:
        tgt = tgt[..., None]
    if pred.shape != tgt.shape:
        raise ValueError(
            f"{fn}: `predictions` has shape {orig.shape} but `targets` has shape "
            f"{jnp.shape(targets)}; expected equal shapes [..., num_classes] (one-hot "
            "targets), or [...] and [..., 1] for binary segmentation."
        )
    if pred.ndim < 1:
        raise ValueError(f"{fn}: `predictions` must have a class axis; got a scalar.")
    x = upcast(pred)
    t = tgt.astype(x.dtype)
    k = x.shape[-1]
    if not apply_softmax:
        # One class: probabilities in [0, 1]. (optax checks that they sum to 1 along the
        # class axis here too, which rejects every binary input but p = 1.)
        if k == 1:
            ok = (x >= 0) & (x <= 1)
        else:
            # Rounding each of K probabilities to the input dtype moves the sum by up
            # to K eps / 2: bf16 softmax outputs must pass (found by the property tests).
            tol = max(1e-5, k * float(jnp.finfo(orig.dtype).eps) / 2)
            ok = jnp.abs(jnp.sum(x, axis=-1, keepdims=True) - 1.0) <= tol
        try:
            valid = bool(jnp.all(ok))
        except jax.errors.ConcretizationTypeError:
            # Traced under jit: the values are unknown, so unchecked here (the loss stays
            # differentiable off the simplex); `jaxlosses.checked(loss)` checks them.
            valid = True
        if not valid:
            found = x if k == 1 else jnp.sum(x, axis=-1)
            try:
                shown = (
                    f"; found values in [{float(jnp.min(found)):.6f}, {float(jnp.max(found)):.6f}]"
                )
            except jax.errors.ConcretizationTypeError:  # under grad the sums are tracers
                shown = ""
            raise ValueError(
                f"{fn}: with apply_softmax=False, `predictions` must be probabilities ("
                f"{'in [0, 1]' if k == 1 else 'summing to 1 along the class axis'}){shown}. "
                "Pass logits with apply_softmax=True instead."
            )
        activation, probs = "none", x
    elif k == 1:
        activation, probs = "sigmoid", jax.nn.sigmoid(x)
    else:
        activation, probs = "softmax", jax.nn.softmax(x, axis=-1)
    if axis is None:
        axes = tuple(range(1, x.ndim - 1))
    else:
        axes = canonical_axes(axis, x.ndim, "predictions", fn)
        if x.ndim - 1 in axes:
            raise ValueError(
                f"{fn}: `axis`={axis} includes the class axis (the last one); `axis` names "
                f"the spatial axes to sum over, e.g. {tuple(range(1, x.ndim - 1))}."
            )
    inter = jnp.sum(probs * t, axis=axes, keepdims=True)
    psum = jnp.sum(probs, axis=axes, keepdims=True)
    tsum = jnp.sum(t, axis=axes, keepdims=True)
    a = jnp.asarray(alpha, x.dtype)
    b = jnp.asarray(beta, x.dtype)
    s = jnp.asarray(smooth, x.dtype)
    num = inter + s
    den = inter + a * (psum - inter) + b * (tsum - inter) + s
    if class_weights is None:
        w = jnp.ones((k,), x.dtype)
    else:
        cw = floating(class_weights, "class_weights", fn)
        if cw.ndim != 1 or cw.shape[0] not in (1, k):
            raise ValueError(
                f"{fn}: `class_weights` has shape {cw.shape}; expected ({k},), one weight "
                "per class."
            )
        w = jnp.broadcast_to(cw.astype(x.dtype), (k,))
    if ignore_background and k > 1:
        w = w.at[0].set(0.0)
    w = w.reshape((1,) * (x.ndim - 1) + (k,))  # explicit rank: no implicit promotion
    return _Dice(orig, x, probs, t, axes, num, den, w, activation, a, b, ignore_background, fn)


def _per_class(d: _Dice) -> jax.Array:
    """Weighted ``1 - num/den`` per class ``[..., K']`` (background dropped if ignored)."""
    loss = (1.0 - d.num / d.den) * d.weights
    loss = jnp.squeeze(loss, axis=d.axes)
    if d.ignore_background and d.x.shape[-1] > 1:
        loss = loss[..., 1:]
    return loss


def _reduce(loss: jax.Array, reduction: str, fn: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(loss, axis=-1)
    if reduction == "sum":
        return jnp.sum(loss, axis=-1)
    if reduction == "none":
        return loss
    raise ValueError(f"{fn}: `reduction`={reduction!r}; expected one of {_REDUCTIONS}.")


def _grad_from_probs(d: _Dice, scale: jax.Array) -> jax.Array:
    r"""Chains ``∂/∂p`` of ``Σ scale_c (1 - num_c/den_c)`` through the activation.

    With ``num = I + s`` and ``den = (1 - α - β) I + α P + β T + s`` (``I = Σ p t``,
    ``P = Σ p``, ``T = Σ t``): ``∂(num/den)/∂p_i = (t_i den - num ((1 - α - β) t_i + α)) / den²``.
    """
    a, b = d.alpha, d.beta
    dcoef = (d.t * d.den - d.num * ((1.0 - a - b) * d.t + a)) / d.den**2
    gp = -scale * d.weights * dcoef
    if d.activation == "softmax":
        return d.probs * (gp - jnp.sum(gp * d.probs, axis=-1, keepdims=True))
    if d.activation == "sigmoid":
        return gp * d.probs * (1.0 - d.probs)
    return gp


def _reduction_scale(d: _Dice, reduction: str) -> jax.Array:
    k = d.x.shape[-1]
    kept = k - 1 if (d.ignore_background and k > 1) else k
    if reduction == "mean":
        return jnp.asarray(1.0 / kept, d.x.dtype)
    if reduction in ("sum", "none"):
        return jnp.ones((), d.x.dtype)
    raise ValueError(f"{d.fn}: `reduction`={reduction!r}; expected one of {_REDUCTIONS}.")


def _dice_inputs(
    predictions: ArrayLike, targets: ArrayLike, *, reduction: str = "mean", **options: Any
) -> tuple[_Dice, str]:
    """:func:`_dice_parts` and the class reduction, for the Dice and Tversky losses."""
    return _dice_parts(predictions, targets, **options), reduction


def _dice_value(d: _Dice, reduction: str) -> jax.Array:
    """The Dice/Tversky loss: per-class ``1 - num/den`` reduced over classes."""
    return _reduce(_per_class(d), reduction, d.fn).astype(d.orig.dtype)


def _dice_derivative(d: _Dice, reduction: str) -> jax.Array:
    """``-r w_c ∂(num/den)/∂p`` chained through softmax/sigmoid; ``r = 1/K'`` for mean."""
    g = _grad_from_probs(d, _reduction_scale(d, reduction))
    return g.reshape(d.orig.shape).astype(d.orig.dtype)


def dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    class_weights: ArrayLike | None = None,
    smooth: ArrayLike = 1.0,
    alpha: ArrayLike = 0.5,
    beta: ArrayLike = 0.5,
    apply_softmax: bool = True,
    reduction: str = "mean",
    ignore_background: bool = False,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    r"""Soft Dice loss (Tversky-generalised) per example, averaged over classes.

    .. math:: \ell_c = 1 - \frac{I_c + s}{I_c + \alpha (P_c - I_c) + \beta (T_c - I_c) + s},
       \quad I_c = \sum_i p_{ic} t_{ic},\ P_c = \sum_i p_{ic},\ T_c = \sum_i t_{ic}

    Same name, arguments and values as :func:`optax.losses.dice_loss`: the predictions
    are logits (softmax over classes, sigmoid for one class) unless
    ``apply_softmax=False``; sums run over the spatial axes (all but the first and the
    last by default); ``reduction`` reduces over classes. ``α = β = 1/2`` is the Dice
    coefficient.

    Args:
      predictions: logits ``[batch, ..., K]`` (or ``[batch, ...]`` for binary).
      targets: one-hot targets of the same shape (or ``[batch, ...]`` for binary).
      class_weights: optional ``[K]`` weights of the per-class losses.
      smooth: ``s``, added to the numerator and the denominator.
      alpha: weight of false positives ``P - I``.
      beta: weight of false negatives ``T - I``.
      apply_softmax: ``False`` when the predictions are already probabilities (checked
        to sum to 1 outside ``jit``; under ``jit``, by ``jaxlosses.checked``).
      reduction: ``"mean"`` (default) or ``"sum"`` over classes, or ``"none"``.
      ignore_background: drop class 0 from the result (when ``K > 1``).
      axis: the spatial axes to sum over (never the class axis); default
        ``range(1, ndim - 1)``.

    Returns:
      ``[batch]`` for ``"mean"``/``"sum"``, ``[batch, K]`` for ``"none"`` (the predictions'
      shape without the summed axes), in the dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p = jnp.array([[[0.5, 0.5], [0.5, 0.5]]])  # probabilities, batch 1, 2 pixels
      >>> t = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])
      >>> jl.dice_loss(p, t, apply_softmax=False, smooth=0.0, reduction="none").round(4).tolist()
      [[0.3333, 1.0]]

    References:
      Milletari et al., `V-Net <https://arxiv.org/abs/1606.04797>`_, 2016.
    """
    return _dice_value(*_dice_inputs(
        predictions, targets, class_weights=class_weights, smooth=smooth, alpha=alpha,
        beta=beta, apply_softmax=apply_softmax, reduction=reduction,
        ignore_background=ignore_background, axis=axis, fn="dice_loss",
    ))  # fmt: skip


_dice_loss_grad = closed_form_of(dice_loss, _dice_inputs)(_dice_derivative)


def tversky_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    alpha: ArrayLike = 0.5,
    beta: ArrayLike = 0.5,
    smooth: ArrayLike = 1.0,
    class_weights: ArrayLike | None = None,
    apply_softmax: bool = True,
    ignore_background: bool = False,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    r"""Tversky loss per example: Dice with separate false-positive/negative weights.

    .. math:: \ell = \frac{1}{K'} \sum_c \Big(1 - \frac{I_c + s}{I_c + \alpha\, FP_c
       + \beta\, FN_c + s}\Big), \quad FP_c = P_c - I_c,\ FN_c = T_c - I_c

    :func:`dice_loss` with ``reduction="mean"`` and the Tversky weights up front;
    ``α = β = 1/2`` is exactly the Dice loss, ``α = β = 1`` the Jaccard (IoU) loss, and
    ``β > α`` penalises missed foreground more.

    Args:
      predictions: logits ``[batch, ..., K]`` (``[batch, ...]`` for binary).
      targets: one-hot targets, same shape.
      alpha: weight of false positives.
      beta: weight of false negatives.
      smooth: added to the numerator and the denominator.
      class_weights: optional ``[K]`` weights.
      apply_softmax: ``False`` when the predictions are already probabilities.
      ignore_background: leave class 0 out of the mean (when ``K > 1``).
      axis: the spatial axes; default ``range(1, ndim - 1)``.

    Returns:
      ``[batch]`` (the predictions' shape without the summed and class axes), in the
      dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p = jnp.array([[[0.5, 0.5], [0.5, 0.5]]])
      >>> t = jnp.array([[[1.0, 0.0], [1.0, 0.0]]])
      >>> jl.tversky_loss(p, t, alpha=1.0, beta=1.0, smooth=0.0, apply_softmax=False).tolist()
      [0.75]

    References:
      Salehi et al., `Tversky loss function for image segmentation using 3D fully
      convolutional deep networks <https://arxiv.org/abs/1706.05721>`_, 2017.
    """
    return _dice_value(*_dice_inputs(
        predictions, targets, class_weights=class_weights, smooth=smooth, alpha=alpha,
        beta=beta, apply_softmax=apply_softmax, ignore_background=ignore_background,
        axis=axis, fn="tversky_loss",
    ))  # fmt: skip


@closed_form_of(tversky_loss, _dice_inputs)
def _tversky_loss_grad(d: _Dice, reduction: str) -> jax.Array:
    """As :func:`_dice_loss_grad` with ``reduction="mean"``."""
    return _dice_derivative(d, reduction)


def _binary_dice_inputs(
    predictions: ArrayLike, targets: ArrayLike, smooth: ArrayLike, apply_sigmoid: bool, fn: str
) -> tuple[jax.Array, _Dice]:
    """Returns (original predictions, the Dice parts of the ``[..., 1]`` view)."""
    orig, pred, tgt = _binary_view(predictions, targets, fn)
    d = _dice_parts(
        pred, tgt, class_weights=None, smooth=smooth, alpha=0.5, beta=0.5,
        apply_softmax=apply_sigmoid, ignore_background=False, axis=None, fn=fn,
    )  # fmt: skip
    return orig, d


def _binary_view(
    predictions: ArrayLike, targets: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array]:
    orig = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    pred = orig
    if pred.ndim == tgt.ndim and pred.ndim > 0 and pred.shape[-1] != 1:
        if pred.shape != tgt.shape:
            raise ValueError(
                f"{fn}: `predictions` has shape {orig.shape} but `targets` has shape "
                f"{tgt.shape}; expected equal shapes [batch, ...] (or [batch, ..., 1])."
            )
        pred, tgt = pred[..., None], tgt[..., None]
    return orig, pred, tgt


def binary_dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: ArrayLike = 1.0,
    apply_sigmoid: bool = True,
) -> jax.Array:
    r"""Binary soft Dice loss per example (sigmoid of the logits by default).

    .. math:: \ell = 1 - \frac{2 \sum_i p_i t_i + 2s}{\sum_i p_i + \sum_i t_i + 2s},
       \quad p = \sigma(x)

    Same name, arguments and values as :func:`optax.losses.binary_dice_loss`: a
    trailing class axis of size 1 is added when absent, and the sums run over all axes
    but the first.

    Args:
      predictions: logits ``[batch, ...]`` or ``[batch, ..., 1]``.
      targets: binary targets of the same shape.
      smooth: added to the numerator and the denominator.
      apply_sigmoid: ``False`` when the predictions are already probabilities in
        ``[0, 1]`` (checked outside ``jit``, and by ``jaxlosses.checked`` under it; optax 0.2.8 wrongly requires them to sum to 1
        over the singleton class axis, which rejects every input but ``p = 1``).

    Returns:
      ``[batch]``, in the dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> jl.binary_dice_loss(jnp.array([[0.0, 0.0]]), jnp.array([[1.0, 0.0]]), smooth=0.0).tolist()
      [0.5]

    References:
      Milletari et al., `V-Net <https://arxiv.org/abs/1606.04797>`_, 2016.
    """
    orig, d = _binary_dice_inputs(predictions, targets, smooth, apply_sigmoid, "binary_dice_loss")
    return _reduce(_per_class(d), "mean", d.fn).astype(orig.dtype)


@closed_form_of(binary_dice_loss, _binary_dice_inputs)
def _binary_dice_loss_grad(orig: jax.Array, d: _Dice) -> jax.Array:
    """``-∂(num/den)/∂p · σ(x)(1 - σ(x))`` (one class, so the class mean is 1)."""
    g = _grad_from_probs(d, jnp.ones((), d.x.dtype))
    return g.reshape(orig.shape).astype(orig.dtype)


def _generalized_weights(t: jax.Array) -> jax.Array:
    """``1 / (f_c² + 1e-7)`` normalised to sum to ``K``; ``f_c`` the class frequencies."""
    freq = jnp.sum(t, axis=tuple(range(t.ndim - 1)))
    w = 1.0 / (freq**2 + 1e-7)
    return w / jnp.sum(w) * w.shape[0]


def _generalized_parts(
    predictions: ArrayLike,
    targets: ArrayLike,
    smooth: ArrayLike,
    apply_softmax: bool,
    ignore_background: bool,
    fn: str,
) -> tuple[_Dice, jax.Array]:
    """Returns (the Dice parts with generalised weights, the weighted per-class losses)."""
    arr = floating(predictions, "predictions", fn)
    tgt = real(targets, "targets", fn)
    if arr.shape != tgt.shape or arr.ndim < 1:
        raise ValueError(
            f"{fn}: `predictions` has shape {arr.shape} but `targets` has shape "
            f"{tgt.shape}; expected equal shapes [batch, ..., num_classes] (one-hot targets)."
        )
    weights = _generalized_weights(tgt.astype(upcast(arr).dtype))
    d = _dice_parts(
        arr, tgt, class_weights=weights, smooth=smooth, alpha=0.5, beta=0.5,
        apply_softmax=apply_softmax, ignore_background=ignore_background, axis=None, fn=fn,
    )  # fmt: skip
    return d, _per_class(d)


def multiclass_generalized_dice_loss(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    smooth: ArrayLike = 1.0,
    apply_softmax: bool = True,
    ignore_background: bool = False,
) -> jax.Array:
    r"""Generalised Dice loss: Dice with inverse squared class-frequency weights (a scalar).

    .. math:: \ell = \operatorname{mean}_{b, c}\; w_c \Big(1 - \frac{2 I_{bc} + 2s}{P_{bc}
       + T_{bc} + 2s}\Big), \quad w_c \propto \frac{1}{f_c^2 + 10^{-7}},\ \sum_c w_c = K

    Same name, arguments and values as
    :func:`optax.losses.multiclass_generalized_dice_loss`: the class frequencies ``f_c``
    are counted over the whole batch, so the result is one scalar (a documented
    exception to the per-example rule). The weights depend on the targets only.

    Args:
      predictions: logits ``[batch, ..., K]``.
      targets: one-hot targets, same shape.
      smooth: added to the numerator and the denominator.
      apply_softmax: ``False`` when the predictions are already probabilities.
      ignore_background: leave class 0 out of the mean.

    Returns:
      A scalar in the dtype of ``predictions``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p = jnp.array([[[0.5, 0.5], [0.5, 0.5]]])
      >>> t = jnp.array([[[1.0, 0.0], [0.0, 1.0]]])  # equal frequencies: weights (1, 1)
      >>> float(jl.multiclass_generalized_dice_loss(p, t, smooth=0.0, apply_softmax=False))
      0.5

    References:
      Sudre et al., `Generalised Dice overlap as a deep learning loss function for highly
      unbalanced segmentations <https://arxiv.org/abs/1707.03237>`_, 2017.
    """
    fn = "multiclass_generalized_dice_loss"
    d, per_class = _generalized_parts(
        predictions, targets, smooth, apply_softmax, ignore_background, fn
    )
    return jnp.mean(per_class).astype(d.orig.dtype)


@closed_form_of(multiclass_generalized_dice_loss, _generalized_parts)
def _multiclass_generalized_dice_loss_grad(d: _Dice, per_class: jax.Array) -> jax.Array:
    """As :func:`_dice_loss_grad` with weights ``w_c`` and ``r = 1 / (#per-class losses)``."""
    scale = jnp.asarray(1.0 / max(per_class.size, 1), d.x.dtype)
    g = _grad_from_probs(d, scale)
    return g.reshape(d.orig.shape).astype(d.orig.dtype)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(dice_loss, unit_interval("targets"), probabilities_unless("apply_softmax"))
register_checks(
    binary_dice_loss, unit_interval("targets"), probabilities_unless("apply_sigmoid", classes=False)
)
register_checks(
    multiclass_generalized_dice_loss,
    unit_interval("targets"),
    probabilities_unless("apply_softmax"),
)
register_checks(tversky_loss, unit_interval("targets"), probabilities_unless("apply_softmax"))


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    multiclass_generalized_dice_loss, "class frequencies counted over the whole batch, one scalar"
)
