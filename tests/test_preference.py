"""Edge cases of the preference family the catalogue's samplers do not produce.

NaN honesty of the sequence log-probabilities, ORPO at and around its branch points
(a chosen mean log-probability of exactly 0, the switch at -0.5), and the logging helper.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

NAN = float("nan")


def test_a_nan_logit_makes_its_sequence_nan_and_a_masked_one_never_leaks(x64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4))
    y = np.array([[0, 1, 2], [3, 2, 1]])
    x[0, 1, 2] = NAN
    out = np.asarray(jl.sequence_log_probs(x, y))
    assert np.isnan(out[0]) and np.isfinite(out[1])
    keep = np.array([[True, False, True], [True, True, True]])
    for average in (False, True):
        masked = jl.sequence_log_probs(x, y, where=keep, average=average)
        kept = jl.sequence_log_probs(x[:1, [0, 2]], y[:1, [0, 2]], average=average)  # sliced
        np.testing.assert_allclose(masked[0], kept[0], rtol=1e-14)

        def total(z, average=average):
            return jnp.sum(jl.sequence_log_probs(z, y, where=keep, average=average))

        g = np.asarray(jax.grad(total)(x))
        assert np.isfinite(g).all() and not g[0, 1].any()
    # A fully masked sequence: 0 (sum and mean), with a zero gradient.
    none = np.zeros((2, 3), bool)
    assert not np.asarray(jl.sequence_log_probs(x, y, where=none, average=True)).any()


def _orpo_by_hand(c: float, r: float, beta: float) -> tuple[float, float]:
    """The limit at c = 0 (odds of the chosen infinite): -log σ(log OR) -> 0, and
    d/dc -> -1 - β e^r / (1 - e^r)."""
    assert c == 0.0
    return 0.0, -1.0 - beta * np.exp(r) / (1.0 - np.exp(r))


@pytest.mark.parametrize("r", [-0.2, -3.0])
def test_orpo_at_a_chosen_log_probability_of_zero(x64, r):
    beta = 0.7
    c = jnp.array([0.0])
    value, slope = _orpo_by_hand(0.0, r, beta)
    np.testing.assert_allclose(jl.orpo_loss(c, jnp.array([r]), beta=beta), [value], atol=1e-15)
    g = jax.grad(lambda a: jnp.sum(jl.orpo_loss(a, jnp.array([r]), beta=beta)))(c)
    np.testing.assert_allclose(g, [slope], rtol=1e-12)
    g_c, _ = jl.closed_form.orpo_loss(c, jnp.array([r]), beta=beta)
    np.testing.assert_allclose(g_c, [slope], rtol=1e-12)
    # and the limit is approached continuously from below
    near = jl.orpo_loss(jnp.array([-1e-9]), jnp.array([r]), beta=beta)
    np.testing.assert_allclose(near, [value - slope * 1e-9], atol=1e-12)


def test_orpo_is_continuous_across_its_branch_point(x64):
    """Two formulas meet at c = -0.5; values and gradients agree on both sides."""
    c = jnp.array([-0.5 - 1e-12, -0.5 + 1e-12])
    r = jnp.array([-1.3, -1.3])
    v = jl.orpo_loss(c, r, beta=0.5)
    g = jax.grad(lambda a, b: jnp.sum(jl.orpo_loss(a, b, beta=0.5)), (0, 1))(c, r)
    np.testing.assert_allclose(v[0], v[1], rtol=1e-11)
    for gi in g:
        np.testing.assert_allclose(gi[0], gi[1], rtol=1e-10)


def test_orpo_outside_the_domain_is_nan():
    out = np.asarray(jl.orpo_loss(jnp.array([0.1, -1.0, -0.2]), jnp.array([-1.0, 0.3, -1.0])))
    assert np.isnan(out[:2]).all() and np.isfinite(out[2])
    assert float(jl.orpo_loss(jnp.array([-1.0]), jnp.array([0.0]))[0]) == np.inf


def test_preference_rewards_are_for_logging():
    pc, pr = jnp.array([-3.0, -5.0]), jnp.array([-4.0, -2.0])
    free = jl.preference_rewards(pc, pr, beta=0.5)  # reference-free (SimPO, ORPO)
    assert free.chosen.tolist() == [-1.5, -2.5] and free.accuracies.tolist() == [1.0, 0.0]
    g = jax.grad(lambda a: jnp.sum(jl.preference_rewards(a, pr).margins))(pc)
    assert not np.asarray(g).any()  # under stop_gradient
    with pytest.raises(ValueError, match="reference_rejected_logps"):
        jl.preference_rewards(pc, pr, pc)
