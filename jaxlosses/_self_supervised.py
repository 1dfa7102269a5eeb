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

from ._core import Axis, closed_form_of
from ._regression import _cosine_derivative, _cosine_inputs

__all__ = ["negative_cosine_similarity"]


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
