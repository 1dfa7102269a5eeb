"""The mixed-dtype rule, for every catalogue entry: the result has the first argument's dtype.

Checked with :func:`jax.eval_shape` (tracing only) over every entry; a few values are
compared with the float64 reference.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl
from jaxlosses.catalogue import CATALOGUE

NAMES = list(CATALOGUE)
MIXES = [
    (jnp.bfloat16, jnp.float32),
    (jnp.float32, jnp.bfloat16),
    (jnp.float16, jnp.bfloat16),
    (jnp.float64, jnp.float32),
    (jnp.float32, jnp.float64),
]


def _cast(x: Any, dtype: Any) -> Any:
    if isinstance(x, np.ndarray) and x.dtype.kind == "f":
        return x.astype(dtype)
    return x


@pytest.mark.parametrize("name", NAMES)
def test_result_dtype_is_the_first_arguments(name):
    entry = CATALOGUE[name]
    case = entry.sample(np.random.default_rng(0))[0]
    with jax.enable_x64(True):
        for first, rest in MIXES:
            args = [_cast(a, first if i == 0 else rest) for i, a in enumerate(case.args)]
            kwargs = {k: _cast(v, rest) for k, v in case.kwargs.items()}
            arrays = {i: a for i, a in enumerate(args) if isinstance(a, np.ndarray)}

            def call(d: dict[int, Any], args: list[Any] = args, kwargs: Any = kwargs) -> Any:
                return entry.fn(*[d.get(i, a) for i, a in enumerate(args)], **kwargs)

            out = jax.eval_shape(call, arrays)
            assert out.dtype == first, (first, rest, out.dtype)


def test_bf16_logits_with_f32_labels_match_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6)) * 3
    y = rng.dirichlet(np.ones(6), 4)
    xb = jnp.asarray(x, jnp.bfloat16)
    out = jl.softmax_cross_entropy(xb, jnp.asarray(y, jnp.float32))
    assert out.dtype == jnp.bfloat16
    x_rounded = np.asarray(xb, np.float64)
    ref = -(y * (x_rounded - np.log(np.exp(x_rounded).sum(-1, keepdims=True)))).sum(-1)
    np.testing.assert_allclose(np.asarray(out, np.float64), ref, rtol=1e-2)
    r = jl.huber_loss(xb, jnp.asarray(y, jnp.float32))
    assert r.dtype == jnp.bfloat16
    res = np.abs(x_rounded - np.asarray(jnp.asarray(y, jnp.float32), np.float64))
    expect = np.where(res <= 1, 0.5 * res**2, res - 0.5)
    np.testing.assert_allclose(np.asarray(r, np.float64), expect, rtol=1e-2)
