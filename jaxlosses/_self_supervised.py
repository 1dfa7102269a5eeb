"""Self-supervised representation-learning losses without negatives: BYOL/SimSiam's
negative cosine similarity, Barlow Twins, VICReg and DINO.

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed*
loss, derived by hand. None of them stops gradients itself: the target branch (BYOL's
and SimSiam's target projection, DINO's teacher) is the caller's to wrap in
:func:`jax.lax.stop_gradient`, as the papers' pseudo-code does, so that the same loss
serves symmetric and asymmetric set-ups and the teacher's gradient stays checkable.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import Axis, closed_form_of, floating, hyperparameter, upcast
from ._coupling import register_batch_coupled
from ._regression import _cosine_derivative, _cosine_inputs

__all__ = ["barlow_twins_loss", "negative_cosine_similarity"]

_Pair = tuple[jax.Array, jax.Array]  # gradients w.r.t. the two views


# --- BYOL / SimSiam: negative cosine similarity --------------------------------------------


def negative_cosine_similarity(
    predictions: ArrayLike,
    targets: ArrayLike,
    *,
    epsilon: ArrayLike = 0.0,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""SimSiam's and BYOL's ``D(p, z) = -cos(p, z)``, per example.

    .. math:: \ell(p, z) = -\frac{\langle p, z \rangle}{\lVert p \rVert\, \lVert z \rVert}

    The loss does **not** stop gradients: pass the target branch through
    :func:`jax.lax.stop_gradient` yourself, as SimSiam's symmetric loss
    ``D(p₁, sg(z₂))/2 + D(p₂, sg(z₁))/2`` does (see the example); BYOL's
    ``2 - 2 cos(p, sg(z'))`` is ``2 + 2 ℓ``. The closed form
    (``jaxlosses.closed_form.negative_cosine_similarity``) differentiates ``predictions``
    only, the learned branch. The mean over the batch is lightly's
    ``NegativeCosineSimilarity``; norms are ``sqrt(max(‖v‖², epsilon))`` as in
    :func:`cosine_similarity` (torch clamps each norm at ``eps = 1e-8``: the same value
    for any vector of norm above 1e-8), and a zero vector gives 0 with a zero gradient.

    Args:
      predictions: ``[..., D]``, the predictor's output ``p``.
      targets: ``[..., D]``, the other view's projection ``z``, same shape.
      epsilon: floor on the squared norms.
      axis: the feature axis or axes.
      where: optional feature mask; masked features are left out.

    Returns:
      Per-example loss in ``[-1, 1]``, shape without ``axis``, dtype of ``predictions``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> p1, p2 = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 1.0]])  # predictor outputs
      >>> z1, z2 = jnp.array([[1.0, 1.0]]), jnp.array([[0.0, 1.0]])  # projector outputs
      >>> sg = jax.lax.stop_gradient
      >>> loss = 0.5 * jl.negative_cosine_similarity(p1, sg(z2)) + 0.5 * (
      ...     jl.negative_cosine_similarity(p2, sg(z1))
      ... )
      >>> loss.round(4).tolist()  # -(0 + 1) / 2
      [-0.5]

    References:
      Chen and He, `Exploring Simple Siamese Representation Learning
      <https://arxiv.org/abs/2011.10566>`_, 2021; Grill et al., `Bootstrap Your Own
      Latent <https://arxiv.org/abs/2006.07733>`_, 2020.
    """
    arr, _, _, _, _, cos, axes, _, _ = _cosine_inputs(
        predictions, targets, epsilon, axis, where, "negative_cosine_similarity"
    )
    return (-jnp.squeeze(cos, axes)).astype(arr.dtype)


@closed_form_of(negative_cosine_similarity, _cosine_inputs)
def _negative_cosine_similarity_grad(*parsed: Any) -> jax.Array:
    r"""``-(ẑ - cos · p̂) / ‖p‖`` (``-ẑ / ‖p‖`` where the norm is floored at ``epsilon``)."""
    return -_cosine_derivative(*parsed)


# --- two views of a batch ----------------------------------------------------------------


def _two_views(z_a: ArrayLike, z_b: ArrayLike, fn: str, min_batch: int = 1) -> _Pair:
    """Validated ``[batch, dim]`` views of the same shape, upcast to one compute dtype."""
    a0 = floating(z_a, "z_a", fn)
    b0 = floating(z_b, "z_b", fn)
    if a0.ndim != 2 or b0.shape != a0.shape:
        raise ValueError(
            f"{fn}: `z_a` has shape {a0.shape} and `z_b` {b0.shape}; expected both "
            "[batch, dim], row i of each being the embedding of one view of example i "
            "(flatten any extra axes into the batch first)."
        )
    if a0.shape[0] < min_batch:
        raise ValueError(
            f"{fn}: the batch has {a0.shape[0]} example(s); the loss estimates each "
            f"feature's variance over the batch and needs at least {min_batch}."
        )
    return a0, b0


def _batch_norm(x: jax.Array, eps: jax.Array) -> _Pair:
    """``((x - μ) / σ, σ)`` per feature over the batch, ``σ = sqrt(biased var + eps)``."""
    c = x - jnp.mean(x, axis=0, keepdims=True)
    sigma = jnp.sqrt(jnp.mean(c * c, axis=0, keepdims=True) + eps)
    return c / sigma, sigma


def _batch_norm_backward(g: jax.Array, xh: jax.Array, sigma: jax.Array) -> jax.Array:
    """Pulls ``g = ∂L/∂x̂`` back through :func:`_batch_norm`:
    ``(g - mean(g) - x̂ · mean(g ⊙ x̂)) / σ``, means over the batch."""
    mean_g = jnp.mean(g, axis=0, keepdims=True)
    mean_gx = jnp.mean(g * xh, axis=0, keepdims=True)
    return (g - mean_g - xh * mean_gx) / sigma


# --- Barlow Twins --------------------------------------------------------------------------


def _barlow_parts(
    z_a: ArrayLike, z_b: ArrayLike, lambda_: ArrayLike, eps: ArrayLike, fn: str
) -> tuple[jax.Array, _Pair]:
    """Returns (the loss, (∂/∂z_a, ∂/∂z_b)), in the dtype of ``z_a`` (and ``z_b``)."""
    a0, b0 = _two_views(z_a, z_b, fn)
    hyperparameter(lambda_, "lambda_", fn, low=0.0,
                   why="it weighs the off-diagonal (redundancy) term")  # fmt: skip
    hyperparameter(eps, "eps", fn, low=0.0,
                   why="it is added to each feature's variance before the square root")  # fmt: skip
    x = upcast(a0)
    lam = jnp.asarray(lambda_, x.dtype)
    an, sa = _batch_norm(x, jnp.asarray(eps, x.dtype))
    bn, sb = _batch_norm(b0.astype(x.dtype), jnp.asarray(eps, x.dtype))
    n = x.shape[0]
    c = an.T @ bn / n  # [D, D] cross-correlation
    diag = jnp.diagonal(c)
    off = jnp.sum(c * c) - jnp.sum(diag * diag)
    loss = jnp.sum((1.0 - diag) ** 2) + lam * off
    # ∂L/∂C: 2λ C off the diagonal, 2 (C_ii - 1) on it
    g_c = 2.0 * lam * c + jnp.diag(2.0 * (diag - 1.0) - 2.0 * lam * diag)
    g_a = _batch_norm_backward(bn @ g_c.T / n, an, sa)
    g_b = _batch_norm_backward(an @ g_c / n, bn, sb)
    return loss.astype(a0.dtype), (g_a.astype(a0.dtype), g_b.astype(b0.dtype))


def barlow_twins_loss(
    z_a: ArrayLike,
    z_b: ArrayLike,
    *,
    lambda_: ArrayLike = 5e-3,
    eps: ArrayLike = 1e-5,
) -> jax.Array:
    r"""Barlow Twins: the cross-correlation of the two views' features driven to identity.

    .. math:: \mathcal L = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \neq j} C_{ij}^2,
       \quad C = \frac{1}{N} \hat z_a^\top \hat z_b,
       \quad \hat z = \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}}

    Each feature is batch-normalised over the ``N`` examples (mean 0, **biased**
    variance ``σ² = mean((z - μ)²)``, plus ``eps``: PyTorch's ``batch_norm`` in training
    mode without affine parameters, as in the paper's code and lightly's
    ``BarlowTwinsLoss``, whose value this is). The on-diagonal term makes each feature
    invariant to the augmentation, the off-diagonal one decorrelates the features. One
    scalar for the batch (a documented exception to the per-example rule: every example
    enters every ``C_ij``); both views are learned, and the closed form returns
    ``(∂/∂z_a, ∂/∂z_b)``. The statistics are per call, so
    :func:`jaxlosses.parallel.sharded_mean` refuses it: compute it on the gathered
    batch (``jax.lax.all_gather``) to get the global-batch loss.

    Args:
      z_a: ``[batch, dim]`` projector outputs of the first view.
      z_b: ``[batch, dim]`` of the second view, same shape.
      lambda_: ``λ ≥ 0``, the weight of the redundancy-reduction term (the paper's
        ``5e-3``).
      eps: ``ε ≥ 0`` added to each feature's variance (batch norm's ``1e-5``).

    Returns:
      A scalar in the dtype of ``z_a``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> z = jnp.array([[1.0, 1.0], [-1.0, -1.0]])  # two features, perfectly correlated
      >>> # C = [[1, 1], [1, 1]] (ε = 0): no invariance loss, 2λ of redundancy
      >>> round(float(jl.barlow_twins_loss(z, z, lambda_=0.5, eps=0.0)), 4)
      1.0

    References:
      Zbontar et al., `Barlow Twins: Self-Supervised Learning via Redundancy Reduction
      <https://arxiv.org/abs/2103.03230>`_, 2021.
    """
    loss, _ = _barlow_parts(z_a, z_b, lambda_, eps, "barlow_twins_loss")
    return loss


@closed_form_of(barlow_twins_loss, _barlow_parts)
def _barlow_twins_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``G = ∂L/∂C = 2λ C + diag(2(C_ii - 1) - 2λ C_ii)``; ``∂/∂ẑ_a = ẑ_b Gᵀ/N``, ``∂/∂ẑ_b = ẑ_a G/N``.

    Then back through each batch norm, ``∂/∂z = (g - mean(g) - ẑ · mean(g ⊙ ẑ)) / σ``
    (means over the batch).
    """
    return grads


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    barlow_twins_loss,
    "the cross-correlation of batch-normalised features over the whole batch, one scalar",
)
