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
import numpy as np
from jax.typing import ArrayLike

from ._core import Axis, closed_form_of, floating, hyperparameter, upcast
from ._coupling import register_batch_coupled
from ._regression import _cosine_derivative, _cosine_inputs

__all__ = [
    "barlow_twins_loss",
    "dino_center_update",
    "dino_loss",
    "negative_cosine_similarity",
    "vicreg_loss",
]

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


# --- VICReg --------------------------------------------------------------------------------


def _vicreg_regularisers(x: jax.Array, eps: jax.Array) -> tuple[jax.Array, ...]:
    """One view's ``(variance term, covariance term, ∂variance/∂x, ∂covariance/∂x)``.

    With ``c = x - mean(x)``, ``S = cᵀc / (N - 1)`` and ``s_j = sqrt(S_jj + ε)``:
    variance ``mean_j relu(1 - s_j)``, covariance ``Σ_{j≠k} S_jk² / D``. The centring
    drops out of both derivatives (the columns of ``c`` sum to zero):
    ``∂/∂x_ij = -[s_j < 1] c_ij / ((N - 1) D s_j)`` and ``4 (c S_off)_ij / ((N - 1) D)``.
    """
    n, d = x.shape
    c = x - jnp.mean(x, axis=0, keepdims=True)
    cov = c.T @ c / (n - 1)
    s = jnp.sqrt(jnp.diagonal(cov) + eps)[None, :]
    off = cov * (1.0 - jnp.eye(d, dtype=x.dtype))
    var_term = jnp.mean(jax.nn.relu(1.0 - s))
    cov_term = jnp.sum(off * off) / d
    g_var = -jnp.where(s < 1.0, 1.0 / s, 0.0) * c / ((n - 1) * d)
    g_cov = 4.0 * (c @ off) / ((n - 1) * d)
    return var_term, cov_term, g_var, g_cov


def _vicreg_parts(
    z_a: ArrayLike,
    z_b: ArrayLike,
    lambda_: ArrayLike,
    mu: ArrayLike,
    nu: ArrayLike,
    eps: ArrayLike,
    fn: str,
) -> tuple[jax.Array, _Pair]:
    """Returns (the loss, (∂/∂z_a, ∂/∂z_b)), in the dtype of ``z_a`` (and ``z_b``)."""
    a0, b0 = _two_views(z_a, z_b, fn, min_batch=2)
    for value, name, why in (
        (lambda_, "lambda_", "it weighs the invariance (mean squared error) term"),
        (mu, "mu", "it weighs the variance (std hinge) term"),
        (nu, "nu", "it weighs the covariance term"),
    ):
        hyperparameter(value, name, fn, low=0.0, why=why)
    hyperparameter(eps, "eps", fn, low=0.0, open_low=True,
                   why="it is added to each feature's variance before the square root, "
                       "keeping the std differentiable at a constant feature")  # fmt: skip
    x = upcast(a0)
    y = b0.astype(x.dtype)
    lam, mu_, nu_, eps_ = (jnp.asarray(v, x.dtype) for v in (lambda_, mu, nu, eps))
    n, d = x.shape
    diff = x - y
    va, ca, gva, gca = _vicreg_regularisers(x, eps_)
    vb, cb, gvb, gcb = _vicreg_regularisers(y, eps_)
    loss = lam * jnp.mean(diff * diff) + mu_ * 0.5 * (va + vb) + nu_ * (ca + cb)
    g_inv = 2.0 * lam * diff / (n * d)
    g_a = g_inv + 0.5 * mu_ * gva + nu_ * gca
    g_b = -g_inv + 0.5 * mu_ * gvb + nu_ * gcb
    return loss.astype(a0.dtype), (g_a.astype(a0.dtype), g_b.astype(b0.dtype))


def vicreg_loss(
    z_a: ArrayLike,
    z_b: ArrayLike,
    *,
    lambda_: ArrayLike = 25.0,
    mu: ArrayLike = 25.0,
    nu: ArrayLike = 1.0,
    eps: ArrayLike = 1e-4,
) -> jax.Array:
    r"""VICReg: variance-invariance-covariance regularisation of two views' embeddings.

    .. math:: \mathcal L = \lambda\, \frac{1}{ND} \lVert z_a - z_b \rVert_F^2
       + \frac{\mu}{2} \bigl(v(z_a) + v(z_b)\bigr) + \nu \bigl(c(z_a) + c(z_b)\bigr),

    .. math:: v(z) = \frac{1}{D} \sum_j \max\bigl(0, 1 - \sqrt{S_{jj} + \epsilon}\bigr),
       \quad c(z) = \frac{1}{D} \sum_{j \neq k} S_{jk}^2,
       \quad S = \frac{(z - \bar z)^\top (z - \bar z)}{N - 1}

    The invariance term pulls the two views of each example together, the variance
    hinge keeps every feature's standard deviation over the batch at 1 or more (no
    collapse), the covariance term decorrelates the features. The conventions are
    lightly's ``VICRegLoss`` and the authors' code, whose value this is: the
    **unbiased** covariance (``N - 1``), the std hinge at ``γ = 1`` with ``eps`` inside
    the square root, the variance term averaged over the two views (``μ/2``) and the
    covariance term summed over them, each normalised by ``D``. One scalar for the
    batch (a documented exception to the per-example rule); both views are learned,
    and the closed form returns ``(∂/∂z_a, ∂/∂z_b)``. The hinge makes the loss
    non-smooth where a feature's std is exactly 1: the closed form is the gradient
    everywhere else, and takes the inactive side (0) there, as ``jax.nn.relu`` does.
    :func:`jaxlosses.parallel.sharded_mean` refuses it; for lightly's
    ``gather_distributed=True``, compute it on the gathered batch
    (``jax.lax.all_gather``): with equal shards, the mean squared error over the
    gathered batch is the mean of the per-device ones that lightly averages.

    Args:
      z_a: ``[batch, dim]`` expander outputs of the first view, ``batch ≥ 2``.
      z_b: ``[batch, dim]`` of the second view, same shape.
      lambda_: ``λ ≥ 0``, the weight of the invariance term (the paper's 25).
      mu: ``μ ≥ 0``, the weight of the variance term (25).
      nu: ``ν ≥ 0``, the weight of the covariance term (1).
      eps: ``ε > 0`` added to each feature's variance before the square root
        (``1e-4``).

    Returns:
      A scalar in the dtype of ``z_a``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> z = jnp.array([[2.0, 2.0], [-2.0, -2.0]])  # stds above 1, fully correlated
      >>> # no invariance or variance loss; covariance 2 · 8² / 2 per view
      >>> round(float(jl.vicreg_loss(z, z, eps=1e-12)), 4)
      128.0

    References:
      Bardes, Ponce and LeCun, `VICReg: Variance-Invariance-Covariance Regularization
      for Self-Supervised Learning <https://arxiv.org/abs/2105.04906>`_, ICLR 2022.
    """
    loss, _ = _vicreg_parts(z_a, z_b, lambda_, mu, nu, eps, "vicreg_loss")
    return loss


@closed_form_of(vicreg_loss, _vicreg_parts)
def _vicreg_loss_grad(_: jax.Array, grads: _Pair) -> _Pair:
    r"""``∂/∂z_a = 2λ (z_a - z_b)/(ND) + (μ/2) ∂v(z_a) + ν ∂c(z_a)`` (``z_b``: the MSE term negated).

    With ``c = z - mean(z)``, ``S = cᵀc/(N-1)``, ``s_j = sqrt(S_jj + ε)`` (the centring's
    own derivative vanishes, as ``c`` sums to zero over the batch):
    ``∂v/∂z_ij = -[s_j < 1] c_ij / ((N-1) D s_j)`` and
    ``∂c/∂z = 4 c S_off / ((N-1) D)``, ``S_off`` being ``S`` with its diagonal zeroed.
    """
    return grads


# --- DINO ----------------------------------------------------------------------------------


def _dino_pairs(n_teacher: int, n_student: int) -> np.ndarray:
    """The ``[T, S]`` 0/1 mask of the (teacher view, student view) pairs that enter the
    loss: every pair but the same view (``i == j``; the student's first views are the
    teacher's, the global crops)."""
    mask = np.ones((n_teacher, n_student))
    np.fill_diagonal(mask, 0.0)
    return mask


def _dino_inputs(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    center: ArrayLike,
    student_temp: ArrayLike,
    teacher_temp: ArrayLike,
    fn: str,
) -> tuple[Any, ...]:
    """Validated ``(s0, t0, mask, n, τs, τt, log p_student, q_teacher)``."""
    s0 = floating(student_logits, "student_logits", fn)
    t0 = floating(teacher_logits, "teacher_logits", fn)
    c0 = floating(center, "center", fn)
    if s0.ndim < 2 or t0.ndim != s0.ndim or t0.shape[:-2] != s0.shape[:-2]:
        raise ValueError(
            f"{fn}: `student_logits` has shape {s0.shape} and `teacher_logits` "
            f"{t0.shape}; expected [..., views, dim] for both, with the same batch shape "
            "[...] (stack a list of [batch, dim] views with `jnp.stack(views, axis=-2)`)."
        )
    if t0.shape[-1] != s0.shape[-1]:
        raise ValueError(
            f"{fn}: `student_logits` has shape {s0.shape} and `teacher_logits` "
            f"{t0.shape}; the last axes (the output dim) must be equal."
        )
    if c0.shape != s0.shape[-1:]:
        raise ValueError(
            f"{fn}: `center` has shape {c0.shape}; expected ({s0.shape[-1]},), one entry "
            "per output dim (reshape lightly's [1, 1, dim] centre to [dim])."
        )
    mask = _dino_pairs(t0.shape[-2], s0.shape[-2])
    n = int(mask.sum())
    if n == 0:
        raise ValueError(
            f"{fn}: `teacher_logits` has {t0.shape[-2]} view(s) and `student_logits` "
            f"{s0.shape[-2]}: the same-view pair is left out, which leaves no pair; pass "
            "at least two views in total."
        )
    hyperparameter(student_temp, "student_temp", fn, low=0.0, open_low=True,
                   why="the student's logits are divided by it")  # fmt: skip
    hyperparameter(teacher_temp, "teacher_temp", fn, low=0.0, open_low=True,
                   why="the centred teacher logits are divided by it")  # fmt: skip
    x = upcast(s0)
    ts, tt = jnp.asarray(student_temp, x.dtype), jnp.asarray(teacher_temp, x.dtype)
    logp = jax.nn.log_softmax(x / ts, axis=-1)
    c = jnp.reshape(c0.astype(x.dtype), (1,) * (t0.ndim - 1) + c0.shape)
    q = jax.nn.softmax((t0.astype(x.dtype) - c) / tt, axis=-1)
    return s0, t0, mask, n, ts, tt, logp, q


def dino_loss(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    center: ArrayLike,
    *,
    student_temp: ArrayLike = 0.1,
    teacher_temp: ArrayLike = 0.04,
) -> jax.Array:
    r"""DINO: the student's cross-entropy to the centred, sharpened teacher, per example.

    .. math:: \ell = \frac{1}{|P|} \sum_{(i, j) \in P} -\sum_k q_{ik} \log p_{jk},
       \quad q_i = \operatorname{softmax}\Bigl(\frac{t_i - c}{\tau_t}\Bigr),
       \quad p_j = \operatorname{softmax}\Bigl(\frac{s_j}{\tau_s}\Bigr)

    over the pairs ``P`` of a teacher view ``i < T`` and a student view ``j < S`` with
    ``i ≠ j``: the student's first ``T`` views are the teacher's (the global crops), the
    rest are local crops, and a view is not matched with itself. The mean over the
    batch is lightly's ``DINOLoss(teacher_out, student_out)`` (its lists of ``[batch,
    dim]`` views, stacked on axis -2 here; note the argument order: the student, the
    learned input, comes first), which sums the same pairs and divides by ``|P| ·
    batch``. The loss is stateless: the centre ``c`` is an input, and
    :func:`dino_center_update` gives the next one; the teacher temperature's warm-up
    schedule is the caller's (pass the epoch's value). The loss does **not** stop the
    teacher's gradient, as lightly's does not (its teacher runs under ``no_grad``):
    pass ``jax.lax.stop_gradient(teacher_logits)``, as the paper's pseudo-code does;
    the closed form returns ``(∂/∂student_logits, ∂/∂teacher_logits)``.

    Args:
      student_logits: ``[..., S, K]``, the student head's outputs for the ``S`` views
        of each example, the ``T`` global views first.
      teacher_logits: ``[..., T, K]``, the teacher head's outputs for the global views.
      center: ``[K]``, the running centre of the teacher's outputs.
      student_temp: ``τ_s > 0`` (the paper's 0.1).
      teacher_temp: ``τ_t > 0`` (0.04; the paper warms it up from 0.04 to 0.07).

    Returns:
      Per-example loss ``≥ 0``, shape ``[...]``, dtype of ``student_logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> s = jnp.array([[[0.0, 0.0], [0.0, 0.0]]])  # one example, two views, uniform
      >>> t = jnp.array([[[5.0, 0.0], [0.0, 5.0]]])  # the teacher's two global views
      >>> jl.dino_loss(s, t, jnp.zeros(2)).round(4).tolist()  # log 2 for each pair
      [0.6931]

    References:
      Caron et al., `Emerging Properties in Self-Supervised Vision Transformers
      <https://arxiv.org/abs/2104.14294>`_, ICCV 2021.
    """
    s0, _, mask, n, _, _, logp, q = _dino_inputs(
        student_logits, teacher_logits, center, student_temp, teacher_temp, "dino_loss"
    )
    ti, sj = np.nonzero(mask)  # the pairs, static: a view in no pair never enters
    cross = jnp.einsum("...tk,...sk->...ts", q, logp)
    return (-jnp.sum(cross[..., ti, sj], axis=-1) / n).astype(s0.dtype)


@closed_form_of(dino_loss, _dino_inputs)
def _dino_loss_grad(
    s0: jax.Array,
    t0: jax.Array,
    mask: np.ndarray,
    n: int,
    ts: jax.Array,
    tt: jax.Array,
    logp: jax.Array,
    q: jax.Array,
) -> _Pair:
    r"""``∂/∂s_j = (m_j p_j - Σ_i M_ij q_i) / (τ_s |P|)``; ``∂/∂t_i = q_i ⊙ (g_i - ⟨q_i, g_i⟩) / τ_t``.

    ``M`` is the pair mask, ``m_j = Σ_i M_ij`` the number of teacher views paired with
    student view ``j``, and ``g_i = -Σ_j M_ij log p_j / |P|`` the gradient with respect
    to ``q_i`` (the softmax's Jacobian applied to it).
    """
    m = jnp.asarray(mask, logp.dtype)
    q_bar = jnp.einsum("ts,...tk->...sk", m, q)
    p = jnp.exp(logp)
    paired = jnp.reshape(jnp.sum(m, axis=0), (1,) * (p.ndim - 2) + (-1, 1))  # m_j
    g_s = (paired * p - q_bar) / (ts * n)
    g_q = -jnp.einsum("ts,...sk->...tk", m, logp) / n
    g_t = q * (g_q - jnp.sum(q * g_q, axis=-1, keepdims=True)) / tt
    return g_s.astype(s0.dtype), g_t.astype(t0.dtype)


def dino_center_update(
    center: ArrayLike, teacher_logits: ArrayLike, *, momentum: ArrayLike = 0.9
) -> jax.Array:
    r"""DINO's centre after one step: ``m · c + (1 - m) · mean(teacher_logits)``.

    The mean is over every axis but the last (the examples and the global views), as in
    lightly's ``DINOLoss.update_center``, which runs after the loss. Pure and without a
    gradient stop (call it outside the differentiated function, on the same teacher
    outputs the loss saw); across devices, average the batch mean with
    ``jax.lax.pmean`` first (lightly's ``all_reduce``), or call it on the gathered
    outputs.

    Args:
      center: ``[K]``, the current centre.
      teacher_logits: ``[..., K]``, the teacher's outputs of this step.
      momentum: ``m`` in ``[0, 1]`` (lightly's and the paper's 0.9).

    Returns:
      The new centre, ``[K]``, in the dtype of ``center``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> teacher = jnp.array([[1.0, 3.0], [3.0, 5.0]])  # batch mean [2, 4]
      >>> jl.dino_center_update(jnp.zeros(2), teacher, momentum=0.5).tolist()
      [1.0, 2.0]
    """
    fn = "dino_center_update"
    c0 = floating(center, "center", fn)
    t0 = floating(teacher_logits, "teacher_logits", fn)
    if c0.ndim != 1 or t0.ndim < 1 or t0.shape[-1] != c0.shape[0]:
        raise ValueError(
            f"{fn}: `center` has shape {c0.shape} and `teacher_logits` {t0.shape}; "
            "expected [K] and [..., K]."
        )
    hyperparameter(momentum, "momentum", fn, low=0.0, high=1.0,
                   why="the new centre is m · old + (1 - m) · the batch mean")  # fmt: skip
    x = upcast(c0)
    m = jnp.asarray(momentum, x.dtype)
    batch = jnp.mean(t0.astype(x.dtype).reshape(-1, c0.shape[0]), axis=0)
    return (m * x + (1.0 - m) * batch).astype(c0.dtype)


# --- losses that couple the examples of a batch (jaxlosses.parallel refuses them) ---

register_batch_coupled(
    barlow_twins_loss,
    "the cross-correlation of batch-normalised features over the whole batch, one scalar",
)
register_batch_coupled(
    vicreg_loss,
    "each feature's variance and the features' covariance over the whole batch, one scalar",
)
