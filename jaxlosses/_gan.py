"""GAN losses from discriminator logits (Goodfellow et al. 2014), in log-sigmoid form.

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed*
loss, derived by hand and re-exported as :mod:`jaxlosses.closed_form`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from ._core import closed_form_of, floating, upcast

__all__ = ["gan_discriminator_loss", "gan_generator_loss"]


def _softplus(x: jax.Array) -> jax.Array:
    return jnp.logaddexp(x, 0.0)


def _discriminator_inputs(
    real_logits: ArrayLike, fake_logits: ArrayLike, fn: str
) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Returns ``(original real, original fake, r, f)``."""
    real = floating(real_logits, "real_logits", fn)
    fake = floating(fake_logits, "fake_logits", fn)
    if real.shape != fake.shape:
        raise ValueError(
            f"{fn}: `real_logits` has shape {real.shape} but `fake_logits` has shape "
            f"{fake.shape}; pair each real example with one fake example (equal shapes), "
            "or call the loss on each and reduce them separately."
        )
    r = upcast(real)
    return real, fake, r, upcast(fake).astype(r.dtype)


def gan_discriminator_loss(real_logits: ArrayLike, fake_logits: ArrayLike) -> jax.Array:
    r"""Discriminator loss: binary cross-entropy of real examples as 1 and fakes as 0.

    .. math:: \ell(r, f) = -\log \sigma(r) - \log(1 - \sigma(f))
       = \operatorname{softplus}(-r) + \operatorname{softplus}(f)

    Computed from logits with ``softplus``, so it is exact for any logit magnitude.

    Args:
      real_logits: discriminator logits ``D(x)`` on real examples, any shape.
      fake_logits: discriminator logits ``D(G(z))`` on generated examples, same shape.

    Returns:
      Element-wise loss, shape and dtype of ``real_logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> float(jl.gan_discriminator_loss(jnp.array(0.0), jnp.array(0.0)))  # 2 log 2
      1.3862943649291992

    References:
      Goodfellow et al., `Generative Adversarial Nets <https://arxiv.org/abs/1406.2661>`_,
      2014.
    """
    real, _, r, f = _discriminator_inputs(real_logits, fake_logits, "gan_discriminator_loss")
    return (_softplus(-r) + _softplus(f)).astype(real.dtype)


@closed_form_of(gan_discriminator_loss, _discriminator_inputs)
def _gan_discriminator_loss_grad(
    real: jax.Array, fake: jax.Array, r: jax.Array, f: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(σ(r) - 1, σ(f))``: w.r.t. the real and the fake logits."""
    return (
        (jax.lax.logistic(r) - 1.0).astype(real.dtype),
        jax.lax.logistic(f).astype(fake.dtype),
    )


def _generator_inputs(
    fake_logits: ArrayLike, non_saturating: bool, fn: str
) -> tuple[jax.Array, jax.Array, bool]:
    """Returns ``(original fake, f, non_saturating)``."""
    fake = floating(fake_logits, "fake_logits", fn)
    return fake, upcast(fake), non_saturating


def gan_generator_loss(fake_logits: ArrayLike, *, non_saturating: bool = True) -> jax.Array:
    r"""Generator loss: non-saturating ``-log D(G(z))`` or minimax ``log(1 - D(G(z)))``.

    .. math:: \ell_{\text{ns}}(f) = -\log \sigma(f) = \operatorname{softplus}(-f),
       \qquad \ell_{\text{mm}}(f) = \log(1 - \sigma(f)) = -\operatorname{softplus}(f)

    The minimax form is the generator's side of the original two-player game (its
    gradient vanishes when the discriminator confidently rejects fakes, ``f → -∞``); the
    non-saturating form has the same fixed point and strong gradients early in training.

    Args:
      fake_logits: discriminator logits ``D(G(z))`` on generated examples, any shape.
      non_saturating: ``True`` (default) for ``-log σ(f)``, ``False`` for the minimax
        ``log(1 - σ(f))`` (negative values).

    Returns:
      Element-wise loss, shape and dtype of ``fake_logits``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> f = jnp.array([0.0, -1e4])
      >>> jl.gan_generator_loss(f).tolist(), jl.gan_generator_loss(f, non_saturating=False).tolist()
      ([0.6931471824645996, 10000.0], [-0.6931471824645996, -0.0])

    References:
      Goodfellow et al., `Generative Adversarial Nets <https://arxiv.org/abs/1406.2661>`_,
      2014.
    """
    fake, f, _ = _generator_inputs(fake_logits, non_saturating, "gan_generator_loss")
    out = _softplus(-f) if non_saturating else -_softplus(f)
    return out.astype(fake.dtype)


@closed_form_of(gan_generator_loss, _generator_inputs)
def _gan_generator_loss_grad(fake: jax.Array, f: jax.Array, non_saturating: bool) -> jax.Array:
    """``σ(f) - 1`` (non-saturating) or ``-σ(f)`` (minimax)."""
    s = jax.lax.logistic(f)
    return (s - 1.0 if non_saturating else -s).astype(fake.dtype)
