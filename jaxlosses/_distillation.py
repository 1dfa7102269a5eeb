"""Knowledge distillation: divergences between a student's and a teacher's logits.

Both distributions are softmaxes at a temperature ``T``, ``q = softmax(s / T)`` for the
student and ``p = softmax(t / T)`` for the teacher, and every loss is scaled by ``T²`` so
that its gradient keeps the same magnitude whatever the temperature (Hinton et al.). Each
loss is followed by its closed-form gradient (``_<name>_grad``) with respect to the
student logits; the teacher logits are differentiable too (through ``jax.grad``), for
co-distillation and for teachers that are being trained.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import (
    Axis,
    canonical_axes,
    closed_form_of,
    floating,
    hyperparameter,
    mask_for,
    real,
    upcast,
)
from ._primitives import log_softmax_parts

__all__ = ["jsd_distillation_loss", "kl_distillation_loss"]


_Parts = tuple[
    jax.Array,  # the student logits as given (for the output dtype)
    jax.Array,  # log q
    jax.Array,  # q
    jax.Array,  # log p
    jax.Array,  # p
    tuple[int, ...],  # the class axes
    jax.Array | None,  # the mask
    jax.Array,  # T
]


def _distributions(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    temperature: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> _Parts:
    """Validated inputs and the student's and teacher's tempered (log-)softmaxes."""
    arr = floating(student_logits, "student_logits", fn)
    teacher = floating(teacher_logits, "teacher_logits", fn)
    if teacher.shape != arr.shape:
        raise ValueError(
            f"{fn}: `student_logits` has shape {arr.shape} but `teacher_logits` has shape "
            f"{teacher.shape}; they must be equal (one logit per class for both models). "
            "Slice the larger vocabulary to the shared classes, or mask the extra ones "
            "with `where=`."
        )
    axes = canonical_axes(axis, arr.ndim, "student_logits", fn)
    mask = mask_for(where, arr.shape, axes, fn)
    s = upcast(arr)
    hyperparameter(temperature, "temperature", fn, low=0.0, open_low=True,
                   why="both softmaxes are taken at logits / temperature; 1 is no scaling")  # fmt: skip
    tau = real(temperature, "temperature", fn)
    if tau.ndim != 0:
        raise ValueError(f"{fn}: `temperature` has shape {tau.shape}; pass a scalar T > 0.")
    tau = tau.astype(s.dtype)
    log_q, q, _ = log_softmax_parts(s / tau, axes, mask)
    log_p, p, _ = log_softmax_parts(teacher.astype(s.dtype) / tau, axes, mask)
    return arr, log_q, q, log_p, p, axes, mask, tau


def _kl_terms(p: jax.Array, log_p: jax.Array, log_q: jax.Array) -> jax.Array:
    """``p (log p - log q)`` with ``0 log 0 = 0`` (finite gradients); NaN stays NaN.

    ``p != 0`` rather than ``p > 0``: a NaN probability takes part and gives NaN.
    """
    nz = p != 0
    return jnp.where(nz, p * (jnp.where(nz, log_p, 0.0) - jnp.where(nz, log_q, 0.0)), 0.0)


def _softmax_vjp(q: jax.Array, d: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``q ⊙ (d - ⟨q, d⟩)``: the gradient w.r.t. the logits of ``Σ_k q_k``-weighted ``d``
    through ``q = softmax``, for ``d = ∂D/∂q`` up to a constant."""
    return q * (d - jnp.sum(q * d, axis=axes, keepdims=True))


def _log_ratio(q: jax.Array, log_q: jax.Array, log_r: jax.Array) -> jax.Array:
    """``log q - log r`` where ``q != 0``, else 0."""
    nz = q != 0
    return jnp.where(nz, jnp.where(nz, log_q, 0.0) - jnp.where(nz, log_r, 0.0), 0.0)


# --- KL distillation -----------------------------------------------------------------


def _kl_inputs(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    temperature: ArrayLike,
    reverse: bool,
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array, jax.Array, tuple[int, ...], jax.Array, bool]:
    """Returns ``(orig, log q, q, log p, p, axes, T, reverse)``."""
    arr, log_q, q, log_p, p, axes, _, tau = _distributions(
        student_logits, teacher_logits, temperature, axis, where, fn
    )
    return arr, log_q, q, log_p, p, axes, tau, bool(reverse)


def kl_distillation_loss(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    temperature: ArrayLike = 1.0,
    reverse: bool = False,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Knowledge-distillation KL between tempered softmaxes, scaled by ``T²`` (Hinton).

    .. math:: \ell(s, t) = T^2\, \mathrm{KL}(p \,\|\, q) = T^2 \sum_k p_k (\log p_k - \log q_k),
       \quad q = \operatorname{softmax}(s / T),\ p = \operatorname{softmax}(t / T)

    The forward KL (teacher ``p`` first: mass-covering, the classic soft-target loss);
    with ``reverse=True`` the reverse KL ``T² KL(q ‖ p)`` (mode-seeking, as in on-policy
    distillation). ``T²`` keeps the gradient's size independent of ``T``: the gradient
    w.r.t. the student logits is ``T (q - p)``. Both softmaxes are computed in log space
    from the logits, with ``0 log 0 = 0``.

    PyTorch: ``T**2 * kl_div(log_softmax(s / T), log_softmax(t / T), log_target=True,
    reduction='none').sum(-1)``; TRL's ``generalized_jsd_loss`` with ``beta=0``
    (forward) or ``beta=1`` (reverse), divided by ``T²``.

    Args:
      student_logits: ``[..., K]`` logits of the model being trained.
      teacher_logits: ``[..., K]`` logits of the teacher, same shape; differentiable
        (wrap them in ``jax.lax.stop_gradient`` for a fixed teacher).
      temperature: ``T > 0``, a scalar.
      reverse: use ``KL(q ‖ p)`` instead of ``KL(p ‖ q)``.
      axis: the class axis or axes.
      where: optional mask of the logits' shape (classes outside the shared vocabulary:
        both softmaxes leave them out, so ``-inf`` there is safe) or of the batch shape
        (padded tokens: they give 0).

    Returns:
      Per-example loss, shape ``student_logits.shape`` without ``axis``, dtype of
      ``student_logits``. Unchecked behaviour: a class the teacher gives mass and the
      student a ``-inf`` logit (or the other way round with ``reverse``) gives ``inf``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> student = jnp.array([[2.0, 0.0, -1.0]])
      >>> teacher = jnp.array([[1.0, 1.0, -1.0]])
      >>> jl.kl_distillation_loss(student, teacher, temperature=2.0).round(4).tolist()
      [0.4095]

    References:
      Hinton, Vinyals and Dean, `Distilling the Knowledge in a Neural Network
      <https://arxiv.org/abs/1503.02531>`_, 2015; Gu et al., `MiniLLM: Knowledge
      Distillation of Large Language Models <https://arxiv.org/abs/2306.08543>`_, 2023
      (reverse KL).
    """
    arr, log_q, q, log_p, p, axes, tau, rev = _kl_inputs(
        student_logits, teacher_logits, temperature, reverse, axis, where, "kl_distillation_loss"
    )
    terms = _kl_terms(q, log_q, log_p) if rev else _kl_terms(p, log_p, log_q)
    return (tau**2 * jnp.sum(terms, axis=axes)).astype(arr.dtype)


@closed_form_of(kl_distillation_loss, _kl_inputs)
def _kl_distillation_loss_grad(
    arr: jax.Array,
    log_q: jax.Array,
    q: jax.Array,
    log_p: jax.Array,
    p: jax.Array,
    axes: tuple[int, ...],
    tau: jax.Array,
    rev: bool,
) -> jax.Array:
    r"""Forward: ``T (Σ_k p_k · q - p)``, i.e. ``T (q - p)``; reverse:
    ``T q ⊙ (r - ⟨q, r⟩)`` with ``r = log q - log p``.

    From ``∂/∂s = (1/T) ∂/∂(s/T)``, the ``T²`` factor, ``∂ log q_k/∂u_j = δ_kj - q_j`` and
    ``∂q_k/∂u_j = q_k (δ_kj - q_j)`` (for the reverse KL, ``Σ_k q_k = 1`` cancels the
    derivative of the ``log q`` inside).
    """
    if rev:
        g = _softmax_vjp(q, _log_ratio(q, log_q, log_p), axes)
    else:
        g = jnp.sum(p, axis=axes, keepdims=True) * q - p
    return (tau * g).astype(arr.dtype)


# --- generalised Jensen-Shannon distillation -----------------------------------------


def _static_beta(beta: float, fn: str) -> float:
    try:
        b = float(beta)
    except (TypeError, jax.errors.ConcretizationTypeError):
        raise TypeError(
            f"{fn}: `beta` must be a Python number in [0, 1] (a static hyperparameter), got "
            f"{type(beta).__name__}. Pass it as a float, e.g. `beta=0.5`."
        ) from None
    if not 0.0 <= b <= 1.0:
        raise ValueError(f"{fn}: `beta` must be in [0, 1], got {b}.")
    return b


def _jsd_inputs(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    beta: float,
    temperature: ArrayLike,
    axis: Axis,
    where: ArrayLike | None,
    fn: str,
) -> tuple[
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    jax.Array,
    tuple[int, ...],
    jax.Array,
    float,
]:
    """Returns ``(orig, log q, q, log p, p, log m, axes, T, β)`` with ``m = β p + (1-β) q``
    (``log m`` only for ``0 < β < 1``)."""
    b = _static_beta(beta, fn)
    arr, log_q, q, log_p, p, axes, _, tau = _distributions(
        student_logits, teacher_logits, temperature, axis, where, fn
    )
    log_m = jnp.zeros_like(log_q)
    if 0.0 < b < 1.0:
        # log(β p + (1 - β) q) in log space; 0 where both are 0 (masked or impossible).
        ok = (p != 0) | (q != 0)
        lp = jnp.where(ok, log_p, 0.0) + jnp.log(b)
        lq = jnp.where(ok, log_q, 0.0) + jnp.log1p(-b)
        log_m = jnp.where(ok, jnp.logaddexp(lp, lq), 0.0)
    return arr, log_q, q, log_p, p, log_m, axes, tau, b


def jsd_distillation_loss(
    student_logits: ArrayLike,
    teacher_logits: ArrayLike,
    *,
    beta: float = 0.5,
    temperature: ArrayLike = 1.0,
    axis: Axis = -1,
    where: ArrayLike | None = None,
) -> jax.Array:
    r"""Generalised Jensen-Shannon distillation loss (GKD), scaled by ``T²``.

    .. math:: \ell(s, t) = T^2 \left[\beta\, \mathrm{KL}(p \,\|\, m)
       + (1 - \beta)\, \mathrm{KL}(q \,\|\, m)\right], \quad m = \beta p + (1 - \beta) q

    with ``q = softmax(s / T)`` the student and ``p = softmax(t / T)`` the teacher. As
    TRL's ``GKDTrainer.generalized_jsd_loss`` (on-policy distillation), times ``T²``:
    ``beta=0`` is the forward KL ``KL(p ‖ q)`` and ``beta=1`` the reverse KL
    ``KL(q ‖ p)``, each equal to :func:`kl_distillation_loss` (these endpoints are the
    limits of the divergence divided by ``β`` and by ``1 - β``; the divergence itself
    vanishes there). ``beta=0.5`` is the symmetric Jensen-Shannon divergence, bounded
    by ``T² log 2``.

    Args:
      student_logits: ``[..., K]`` logits of the model being trained.
      teacher_logits: ``[..., K]`` logits of the teacher, same shape; differentiable.
      beta: ``β`` in ``[0, 1]``, a Python float: the teacher's weight in the mixture.
      temperature: ``T > 0``, a scalar.
      axis: the class axis or axes.
      where: optional class mask of the logits' shape or token mask of the batch shape
        (masked tokens give 0), as in :func:`kl_distillation_loss`.

    Returns:
      Per-example loss, shape ``student_logits.shape`` without ``axis``, dtype of
      ``student_logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> student = jnp.array([[0.0, -jnp.inf]])  # all mass on class 0
      >>> teacher = jnp.array([[-jnp.inf, 0.0]])  # all mass on class 1
      >>> jl.jsd_distillation_loss(student, teacher).round(4).tolist()  # log 2
      [0.6931]

    References:
      Agarwal et al., `On-Policy Distillation of Language Models: Learning from
      Self-Generated Mistakes <https://arxiv.org/abs/2306.13649>`_, 2024, Eq. (1).
    """
    arr, log_q, q, log_p, p, log_m, axes, tau, b = _jsd_inputs(
        student_logits, teacher_logits, beta, temperature, axis, where, "jsd_distillation_loss"
    )
    if b == 0.0:
        terms = _kl_terms(p, log_p, log_q)
    elif b == 1.0:
        terms = _kl_terms(q, log_q, log_p)
    else:
        terms = b * _kl_terms(p, log_p, log_m) + (1.0 - b) * _kl_terms(q, log_q, log_m)
    return (tau**2 * jnp.sum(terms, axis=axes)).astype(arr.dtype)


@closed_form_of(jsd_distillation_loss, _jsd_inputs)
def _jsd_distillation_loss_grad(
    arr: jax.Array,
    log_q: jax.Array,
    q: jax.Array,
    log_p: jax.Array,
    p: jax.Array,
    log_m: jax.Array,
    axes: tuple[int, ...],
    tau: jax.Array,
    b: float,
) -> jax.Array:
    r"""``T (1 - β) q ⊙ (r - ⟨q, r⟩)`` with ``r = log q - log m``.

    ``∂/∂q_k`` of the bracket is ``-β (1-β) p_k / m_k + (1-β)(log q_k - log m_k + 1
    - (1-β) q_k / m_k) = (1-β)(log q_k - log m_k)``, as ``β p_k + (1-β) q_k = m_k``;
    then through ``q = softmax(s / T)`` and the ``T²`` factor. ``β = 0`` is
    :func:`kl_distillation_loss`'s forward gradient ``T (q - p)``, ``β = 1`` its reverse.
    """
    if b == 0.0:
        g = jnp.sum(p, axis=axes, keepdims=True) * q - p
    elif b == 1.0:
        g = _softmax_vjp(q, _log_ratio(q, log_q, log_p), axes)
    else:
        g = (1.0 - b) * _softmax_vjp(q, _log_ratio(q, log_q, log_m), axes)
    return (tau * g).astype(arr.dtype)
