"""Integer labels of any dtype give the int32 result wherever the label fits the dtype.

A label is compared with the class count (``labels < K``) and with ``arange(K)``; done in
the label's own dtype, uint8 labels against K = 300 classes wrap around (label 100 read as
out of range, or matched to the wrong class). Every catalogue loss with integer inputs is
run with its sampled labels in each integer dtype, and the class-index losses are run at
class counts the narrow dtypes cannot represent.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlosses as jl
from jaxlosses.catalogue import CATALOGUE

DTYPES = [np.int8, np.int16, np.int64, np.uint8, np.uint16, np.uint32]


def _int_entries() -> list[str]:
    out = []
    for name, e in CATALOGUE.items():
        case = e.sample(np.random.default_rng(0))[0]
        if any(isinstance(a, np.ndarray) and a.dtype.kind in "iu" for a in case.args):
            out.append(name)
    return out


def _f32(a):
    return a.astype(np.float32) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a


@pytest.mark.parametrize("name", _int_entries())
def test_every_integer_dtype_gives_the_int32_result(name):
    entry = CATALOGUE[name]
    case = entry.sample(np.random.default_rng(0))[0]
    args = [_f32(a) for a in case.args]
    kwargs = {k: _f32(v) for k, v in case.kwargs.items()}
    want = np.asarray(entry.fn(*[_as(a, np.int32) for a in args], **kwargs))
    for dtype in DTYPES:
        info = np.iinfo(dtype)
        ints = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind in "iu"]
        if any(a.min() < info.min or a.max() > info.max for a in ints):
            continue  # the label does not fit this dtype
        got = np.asarray(entry.fn(*[_as(a, dtype) for a in args], **kwargs))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{name} {dtype}")


def _as(a, dtype):
    return a.astype(dtype) if isinstance(a, np.ndarray) and a.dtype.kind in "iu" else a


# (loss, K, label dtype): a class count beyond what the dtype can count to.
WIDE = [(300, np.uint8), (40000, np.int16)]
CLASS_LOSSES = [
    jl.softmax_cross_entropy_with_integer_labels,
    jl.softmax_focal_loss,
    jl.multiclass_perceptron_loss,
    jl.multiclass_hinge_loss,
    jl.negative_log_likelihood,
]


@pytest.mark.parametrize(("k", "dtype"), WIDE)
@pytest.mark.parametrize("loss", CLASS_LOSSES, ids=lambda f: f.__name__)
def test_labels_narrower_than_the_class_count(loss, k, dtype):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(3, k)).astype(np.float32)
    if loss is jl.negative_log_likelihood:
        logits = np.asarray(jax.nn.log_softmax(logits))
    labels = np.array([100, np.iinfo(dtype).max, 7], dtype)
    want = loss(logits, labels.astype(np.int32))
    got = loss(logits, labels)
    assert np.all(np.isfinite(want))
    np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize(("k", "dtype"), WIDE)
def test_fused_cross_entropy_with_narrow_labels(k, dtype):
    rng = np.random.default_rng(2)
    h = rng.normal(size=(3, 4)).astype(np.float32)
    w = rng.normal(size=(4, k)).astype(np.float32) * 0.1
    labels = np.array([100, np.iinfo(dtype).max, 7], dtype)

    def mean_loss(h, w, y):
        return jnp.mean(jl.linear_softmax_cross_entropy(h, w, y))

    want = jax.value_and_grad(mean_loss, argnums=(0, 1))(h, w, labels.astype(np.int32))
    got = jax.value_and_grad(mean_loss, argnums=(0, 1))(h, w, labels)
    for g, x in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(g, x, rtol=1e-5, atol=1e-7)
