"""Static hyperparameters outside their domain are refused at trace time (issue 12).

A ``label_smoothing`` of 1.5, a temperature of 0, a negative Huber ``delta`` used to give a
plausible-looking number (or NaN far from the cause). Now the loss raises a ``ValueError``
naming itself, the argument, the value and the domain, eagerly and under ``jit`` when the
value is a constant; a traced value (a learned temperature) is only known at run time and
passes through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl

X = jnp.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
Y = jnp.array([1, 2])
ONE_HOT = jax.nn.one_hot(Y, 3)
E = jnp.array([[1.0, 0.0], [0.8, 0.2], [0.0, 1.0], [0.1, 0.9]])
G = jnp.array([0, 0, 1, 1])
LOGPS = (
    jnp.array([-1.0, -2.0]),
    jnp.array([-1.5, -1.0]),
    jnp.array([-1.2, -1.8]),
    jnp.array([-1.1, -1.3]),
)
H, W = jnp.ones((2, 3)), jnp.ones((3, 3))

# (loss, its call with the hyperparameter as keyword `v`, the name, bad values, valid edges)
CASES: list[tuple[str, Callable[[Any], Any], str, tuple[float, ...], tuple[float, ...]]] = [
    ("softmax_cross_entropy", lambda v: jl.softmax_cross_entropy(X, ONE_HOT, label_smoothing=v),
     "label_smoothing", (-0.1, 1.5, float("nan")), (0.0, 1.0)),
    ("softmax_cross_entropy_with_integer_labels",
     lambda v: jl.softmax_cross_entropy_with_integer_labels(X, Y, label_smoothing=v),
     "label_smoothing", (-0.1, 1.01), (0.0, 0.1, 1.0)),
    ("safe_softmax_cross_entropy",
     lambda v: jl.safe_softmax_cross_entropy(X, ONE_HOT, label_smoothing=v),
     "label_smoothing", (2.0,), (0.2,)),
    ("sigmoid_binary_cross_entropy",
     lambda v: jl.sigmoid_binary_cross_entropy(X, ONE_HOT, label_smoothing=v),
     "label_smoothing", (-1.0, 2.0), (0.0, 1.0)),
    ("linear_softmax_cross_entropy",
     lambda v: jl.linear_softmax_cross_entropy(H, W, jnp.array([0, 1]), label_smoothing=v),
     "label_smoothing", (1.5,), (0.1,)),
    ("huber_loss", lambda v: jl.huber_loss(X, X + 2.0, delta=v), "delta", (0.0, -1.0), (0.5,)),
    ("smooth_l1_loss", lambda v: jl.smooth_l1_loss(X, X + 2.0, beta=v), "beta", (-1.0,), (0.0, 1.0)),
    ("softmax_focal_loss", lambda v: jl.softmax_focal_loss(X, Y, gamma=v), "gamma", (-1.0,), (0.0, 2.0)),
    ("sigmoid_focal_loss", lambda v: jl.sigmoid_focal_loss(X, ONE_HOT, alpha=v), "alpha",
     (-0.1, 1.5), (0.0, 0.25, 1.0)),
    ("softmax", lambda v: jl.softmax(X, temperature=v), "temperature", (0.0, -1.0), (0.5,)),
    ("log_softmax", lambda v: jl.log_softmax(X, temperature=v), "temperature", (0.0,), (2.0,)),
    ("ntxent", lambda v: jl.ntxent(E, G, temperature=v), "temperature", (0.0,), (0.1,)),
    ("info_nce_loss", lambda v: jl.info_nce_loss(E, E, temperature=v), "temperature", (0.0, -0.1), (0.07,)),
    ("supervised_contrastive_loss", lambda v: jl.supervised_contrastive_loss(E, G, temperature=v),
     "temperature", (0.0,), (0.1,)),
    ("kl_distillation_loss", lambda v: jl.kl_distillation_loss(X, X + 1.0, temperature=v),
     "temperature", (0.0, -2.0), (4.0,)),
    ("dpo_loss", lambda v: jl.dpo_loss(*LOGPS, beta=v), "beta", (0.0, -0.1), (0.1,)),
    ("ipo_loss", lambda v: jl.ipo_loss(*LOGPS, beta=v), "beta", (0.0,), (0.5,)),
    ("simpo_loss", lambda v: jl.simpo_loss(*LOGPS[:2], beta=v), "beta", (-2.0,), (2.0,)),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_out_of_domain_hyperparameters_are_refused(case):
    name, call, arg, bad, good = case
    for v in bad:
        with pytest.raises(ValueError, match=rf"^{name}: `{arg}`=.* is outside its domain"):
            call(v)
        with pytest.raises(ValueError, match=rf"`{arg}`"):  # a constant under jit too
            jax.jit(lambda v=v: call(v))()
    for v in good:
        assert np.all(np.isfinite(np.asarray(jax.tree_util.tree_leaves(call(v))[0]))), v


def test_a_traced_hyperparameter_is_left_to_run_time():
    """A learned temperature is a tracer: nothing is known at trace time, so it passes."""
    out = jax.jit(lambda t: jl.softmax(X, temperature=t))(0.5)
    np.testing.assert_allclose(out, jax.nn.softmax(X / 0.5), rtol=1e-6)
    grad = jax.grad(lambda t: jl.info_nce_loss(E, E, temperature=t).sum())(0.1)
    assert np.isfinite(float(grad))
