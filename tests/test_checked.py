"""Checked mode: every registered run-time check fires on the input it guards against.

Per catalogue entry: the sampled (valid) example passes every check; each check's
own :meth:`Check.corrupt` breaks it and the error names the loss and the argument;
a NaN in the first argument is caught. The checks alone are evaluated (not the
loss), which keeps this fast; a few end-to-end tests run ``jaxlosses.checked``
eagerly, under ``jit``, ``grad`` and ``vmap``.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import jaxlosses as jl
from jaxlosses._checked import check_errors
from jaxlosses.catalogue import CATALOGUE, Entry

NAMES = list(CATALOGUE)


def _example(entry: Entry) -> tuple[list[Any], dict[str, Any]]:
    case = entry.sample(np.random.default_rng(0))[0]

    def f32(x: Any) -> Any:
        return x.astype(np.float32) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x

    return [f32(a) for a in case.args], {k: f32(v) for k, v in case.kwargs.items()}


def _bound(entry: Entry, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    b = inspect.signature(entry.fn).bind(*args, **kwargs)
    return dict(b.arguments)


def _message(entry: Entry, bound: dict[str, Any]) -> str | None:
    return check_errors(entry.fn, (), bound, entry.checks).get()


@pytest.mark.parametrize("name", NAMES)
def test_checks_pass_valid_and_catch_invalid_values(name):
    entry = CATALOGUE[name]
    bound = _bound(entry, *_example(entry))
    assert _message(entry, bound) is None, "a valid sampled example failed a check"
    for check in entry.checks:
        bad = check.corrupt(bound)
        if bad is None:  # the checked argument is optional and absent from the example
            continue
        msg = _message(entry, bad)
        assert msg is not None, f"{check.arg}: {check.what} not caught"
        assert msg.startswith(f"{name}: `{check.arg}`"), msg
    first = next(iter(bound))
    nan = np.array(bound[first], np.float32, copy=True)
    nan.reshape(-1)[0] = np.nan
    msg = _message(entry, {**bound, first: nan})
    assert msg is not None and "NaN" in msg and f"`{first}`" in msg


GROUP_LABELS = (
    "ntxent",
    "supervised_contrastive_loss",
    "sparsemax_loss",
    "batch_hard_triplet_loss",
    "batch_semi_hard_triplet_loss",
    "batch_all_triplet_loss",
    "multi_similarity_loss",
    "circle_loss",
)


def test_every_label_loss_checks_its_labels():
    """Each loss taking integer class indices registers a range check on them."""
    for name, entry in CATALOGUE.items():
        args, _ = _example(entry)
        params = list(inspect.signature(entry.fn).parameters)
        int_args = {params[i] for i, a in enumerate(args) if getattr(a, "dtype", None) == np.int32}
        checked_args = {c.arg for c in entry.checks}
        if name in GROUP_LABELS:
            continue  # group ids (any int, no range to check); binary labels
        assert int_args <= checked_args, (name, int_args - checked_args)


# --- end to end -----------------------------------------------------------------

LOGITS = jnp.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
GOOD, BAD = jnp.array([2, 0]), jnp.array([2, 3])
CE = jl.checked(jl.softmax_cross_entropy_with_integer_labels)


def test_checked_eager_raises_and_keeps_the_value():
    np.testing.assert_array_equal(
        CE(LOGITS, GOOD), jl.softmax_cross_entropy_with_integer_labels(LOGITS, GOOD)
    )
    with pytest.raises(checkify.JaxRuntimeError, match=r"`labels` must hold class indices"):
        CE(LOGITS, BAD)
    with pytest.raises(ValueError, match="NaN"):  # JaxRuntimeError is a ValueError
        CE(LOGITS.at[0, 0].set(jnp.nan), GOOD)


def test_checked_under_jit_grad_and_vmap():
    jitted = jax.jit(CE)
    np.testing.assert_allclose(jitted(LOGITS, GOOD), CE(LOGITS, GOOD), rtol=1e-6)
    with pytest.raises(jax.errors.JaxRuntimeError, match=r"in \[0, 3\)"):
        jax.block_until_ready(jitted(LOGITS, BAD))
    grad = jax.jit(jax.grad(lambda x, y: CE(x, y).sum()))
    assert jnp.all(jnp.isfinite(grad(LOGITS, GOOD)))
    with pytest.raises(jax.errors.JaxRuntimeError, match="class indices"):
        jax.block_until_ready(grad(LOGITS, BAD))
    with pytest.raises(ValueError, match="class indices"):
        jax.vmap(CE)(LOGITS[:, None], BAD[:, None])


def test_checked_value_errors_of_other_kinds():
    nll = jl.checked(jl.gaussian_nll)
    with pytest.raises(ValueError, match="`variances` must be >= 0"):
        nll(jnp.zeros(3), jnp.ones(3), jnp.array([1.0, -1.0, 1.0]))
    kl = jl.checked(jl.kl_divergence)
    with pytest.raises(ValueError, match="`targets` must sum to 1"):
        kl(jnp.log(jnp.full((1, 2), 0.5)), jnp.array([[0.5, 0.6]]))
    crf = jl.checked(jl.crf_loss)
    em, tags, trans = jnp.zeros((1, 4, 2)), jnp.zeros((1, 4), jnp.int32), jnp.zeros((2, 2))
    with pytest.raises(ValueError, match="`mask` must be True on a prefix"):
        crf(em, tags, trans, mask=jnp.array([[1, 0, 1, 0]], bool))


def test_checked_user_function_gets_the_nan_check():
    f = jl.checked(lambda x: x**2)
    assert f(jnp.ones(2)).shape == (2,)
    with pytest.raises(ValueError, match="NaN"):
        f(jnp.array([1.0, jnp.nan]))


def test_checked_ctc_flags_a_blank_label():
    ctc = jl.checked(jl.ctc_loss)
    x, pad = jnp.zeros((2, 4, 3)), jnp.zeros((2, 4))
    lpad = jnp.array([[0, 0], [0, 1]], jnp.float32)
    assert ctc(x, pad, jnp.array([[1, 2], [2, 0]]), lpad).shape == (2,)  # padded blank: fine
    with pytest.raises(ValueError, match="`labels` must not hold the blank id 0"):
        ctc(x, pad, jnp.array([[1, 0], [2, 0]]), lpad)
    with pytest.raises(ValueError, match="blank id 2"):
        ctc(x, pad, jnp.array([[1, 2], [1, 0]]), lpad, blank_id=2)


# --- no false positives, whatever the input's Python type, and quiet errors --------


def _all_cases(entry: Entry) -> list[Any]:
    return [*entry.sample(np.random.default_rng(0)), *entry.stress()]


@pytest.mark.parametrize("name", NAMES)
def test_no_false_positive_on_any_sampled_or_stress_case(name):
    # Every example the catalogue proves the loss on is valid input: checked mode must
    # accept each (masked NaNs, fully masked rows, tuple axes, unnormalised inputs).
    entry = CATALOGUE[name]
    for case in _all_cases(entry):
        msg = check_errors(entry.fn, case.args, dict(case.kwargs), entry.checks).get()
        assert msg is None, f"{case.label}: {msg}"


def test_lists_tuples_and_python_numbers_are_checked():
    x = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"found values from 0 to 9"):
        CE(x, [0, 9])
    with pytest.raises(ValueError, match=r"found values from 0 to 9"):
        CE(x, (0, 9))
    pinball = jl.checked(jl.pinball_loss)
    with pytest.raises(ValueError, match="`quantiles` must lie in"):
        pinball(jnp.zeros(3), jnp.ones(3), quantiles=1.5)
    with pytest.raises(ValueError, match="NaN"):
        jl.checked(jl.huber_loss)([0.0, float("nan")], [0.0, 0.0])
    with pytest.raises(ValueError, match="`margin` is NaN"):
        jl.checked(jl.triplet_margin_loss)(x, x, x, margin=float("nan"))


def test_masked_positions_are_not_checked():
    logits = jnp.zeros((2, 3))
    full_mask = jnp.array([[False] * 3, [True] * 3])
    assert CE(logits, jnp.array([-100, 1]), where=full_mask).shape == (2,)
    with pytest.raises(ValueError, match="class indices"):  # the unmasked row still is
        CE(logits, jnp.array([1, -100]), where=full_mask)
    rank = jl.checked(jl.ranking_softmax_loss)
    keep = jnp.array([[True, True, False]])
    assert jnp.isfinite(rank(jnp.zeros((1, 3)), jnp.array([[1.0, 0.0, -1.0]]), where=keep))
    with pytest.raises(ValueError, match="`labels` must be >= 0"):
        rank(jnp.zeros((1, 3)), jnp.array([[1.0, -1.0, 0.0]]), where=keep)
    seq = jl.checked(jl.sequence_log_probs)
    tokens = jnp.zeros((1, 3, 4)).at[0, 2].set(jnp.nan)
    labels = jnp.array([[1, 2, 3]])
    assert seq(tokens, labels, where=jnp.array([[True, True, False]])).shape == (1,)
    with pytest.raises(ValueError, match="NaN"):
        seq(tokens, labels, where=jnp.array([[True, False, True]]))


def test_a_tuple_of_class_axes_is_one_distribution():
    soft = jl.checked(jl.softmax_cross_entropy)
    labels = jnp.full((2, 3, 4), 1 / 12)
    assert soft(jnp.zeros((2, 3, 4)), labels, axis=(1, 2)).shape == (2,)
    with pytest.raises(ValueError, match="must sum to 1"):
        soft(jnp.zeros((2, 3, 4)), labels, axis=-1)
    ce = jl.checked(jl.softmax_cross_entropy_with_integer_labels)
    assert ce(jnp.zeros((2, 3, 4)), jnp.array([11, 0]), axis=(1, 2)).shape == (2,)
    with pytest.raises(ValueError, match=r"in \[0, 12\)"):
        ce(jnp.zeros((2, 3, 4)), jnp.array([12, 0]), axis=(1, 2))


def test_renormalised_probabilities_need_only_be_nonnegative():
    cce = jl.checked(jl.categorical_cross_entropy)
    y = jnp.array([[0.0, 1.0]])
    assert cce(jnp.array([[0.2, 0.3]]), y).shape == (1,)  # Keras renormalises them
    with pytest.raises(ValueError, match="`probabilities` must be >= 0"):
        cce(jnp.array([[-0.2, 0.3]]), y)
    with pytest.raises(ValueError, match="positive sum"):
        cce(jnp.array([[0.0, 0.0]]), y)


def test_a_failed_check_under_jit_logs_nothing_and_ends_with_the_message(caplog):
    with caplog.at_level("DEBUG"), pytest.raises(jax.errors.JaxRuntimeError) as info:
        jax.block_until_ready(jax.jit(CE)(LOGITS, BAD))
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
    last = str(info.value).strip().splitlines()[-1]
    assert "softmax_cross_entropy_with_integer_labels: `labels` must hold class indices" in last
