"""Conformance with other libraries, driven by the catalogue's peer records.

For every catalogue entry and every :class:`~jaxlosses.catalogue.Peer` whose library is
installed, each sampled case (float64) is run through our loss and through the peer, with
the arguments mapped by the record alone (``kwargs``, ``rename``, ``sum_axis``), and the
values and the gradients with respect to the entry's first learned input are compared.
A new loss with a peer gets this test for free. A case the peer cannot take (a keyword
it lacks, a missing positional argument) is skipped for that peer, but every pair must
compare at least one case. Peers whose arguments do not map through the record
(``Peer.tested_by``) are compared by the hand-written test the record names.
"""

from __future__ import annotations

import importlib.util
import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxlosses.catalogue import CATALOGUE, Case, Entry, Peer

RTOL, ATOL = 1e-10, 1e-12

PAIRS = [
    pytest.param(entry, peer, id=f"{name}-{peer.path}")
    for name, entry in CATALOGUE.items()
    for peer in entry.peers
]


def _accepted(peer: Peer, fn: Callable[..., Any]) -> Callable[..., bool]:
    """``(args, kwargs) -> bool``: whether the peer's signature takes this call."""
    try:
        sig = inspect.signature(fn)
    except ValueError:  # a builtin (torch's cosine_similarity): only what the record names
        named = set(peer.kwargs) | set(peer.rename.values())
        return lambda args, kwargs: set(kwargs) <= named

    def accepts(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
        try:
            sig.bind(*args, **kwargs)
        except TypeError:
            return False
        return True

    return accepts


def _peer_kwargs(peer: Peer, case: Case) -> dict[str, Any]:
    """The peer's own keywords, overridden by the case's keywords renamed for the peer."""
    return {**peer.kwargs, **{peer.rename.get(k, k): v for k, v in case.kwargs.items()}}


def _ours(entry: Entry, case: Case) -> tuple[np.ndarray, np.ndarray]:
    i = entry.argnums[0]
    args = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in case.args]

    def total(x):
        return jnp.sum(entry.fn(*args[:i], x, *args[i + 1 :], **case.kwargs))

    value = entry.fn(*args, **case.kwargs)
    return np.asarray(value), np.asarray(jax.grad(total)(args[i]))


def _optax(entry: Entry, peer: Peer, fn, args, kwargs) -> tuple[np.ndarray, np.ndarray]:
    i = entry.argnums[0]
    args = [jnp.asarray(a) if isinstance(a, np.ndarray | np.generic) else a for a in args]

    def call(x):
        out = fn(*args[:i], x, *args[i + 1 :], **kwargs)
        return out if peer.sum_axis is None else jnp.sum(out, axis=peer.sum_axis)

    # The peer's own conventions, not our strict configuration (optax's class weighting
    # in multiclass_generalized_dice_loss broadcasts ranks implicitly); a deprecated
    # peer (optax's convex_kl_divergence) still defines the semantics.
    with jax.numpy_rank_promotion("allow"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        value = call(args[i])
        grad = jax.grad(lambda x: jnp.sum(call(x)))(args[i])
    return np.asarray(value), np.asarray(grad)


def _torch(entry: Entry, peer: Peer, fn, args, kwargs) -> tuple[np.ndarray, np.ndarray]:
    import torch

    def tensor(a: Any, grad: bool = False) -> Any:
        if not isinstance(a, np.ndarray | np.generic):
            return a
        a = np.asarray(a)
        dtype = {"b": torch.bool, "i": torch.long, "u": torch.long}.get(a.dtype.kind)
        return torch.tensor(a, dtype=dtype or torch.float64, requires_grad=grad)

    i = entry.argnums[0]
    targs = [tensor(a, grad=(j == i)) for j, a in enumerate(args)]
    out = fn(*targs, **{k: tensor(v) for k, v in kwargs.items()})
    if peer.sum_axis is not None:
        out = out.sum(peer.sum_axis)
    out.sum().backward()
    return out.detach().numpy(), targs[i].grad.numpy()


#: How to call and differentiate a peer, by its library (torch-based ones take tensors;
#: rax, like optax, is JAX).
RUNNERS = {"optax": _optax, "rax": _optax, "torch": _torch, "torchvision": _torch}


@pytest.mark.parametrize(("entry", "peer"), PAIRS)
def test_peer_values_and_gradients(entry: Entry, peer: Peer, x64, rng):
    if peer.tested_by:
        pytest.skip(f"the arguments do not map through the record: see {peer.tested_by}")
    if importlib.util.find_spec(peer.library) is None:
        pytest.skip(f"{peer.library} is not installed")
    runner = RUNNERS.get(peer.library)
    if runner is None:
        pytest.fail(f"no conformance runner for {peer.library}: add one to RUNNERS")
    fn = peer.load()
    accepts = _accepted(peer, fn)
    cases = entry.sample(rng)
    stale = set(peer.skip_cases) - {c.label for c in cases}
    assert not stale, f"{peer.path}: skip_cases names no sampled case: {sorted(stale)}"
    compared, skipped = 0, []
    for case in cases:
        kwargs = _peer_kwargs(peer, case)
        if case.label in peer.skip_cases or not accepts(case.args, kwargs):
            skipped.append(case.label)
            continue
        ours, ours_grad = _ours(entry, case)
        theirs, theirs_grad = runner(entry, peer, fn, case.args, kwargs)
        msg = f"{entry.name} vs {peer.path}, case {case.label!r}"
        assert ours.shape == theirs.shape, f"{msg}: shapes {ours.shape} != {theirs.shape}"
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, err_msg=f"{msg}: value")
        np.testing.assert_allclose(
            ours_grad, theirs_grad, rtol=RTOL, atol=ATOL, err_msg=f"{msg}: gradient"
        )
        compared += 1
    assert compared, (
        f"{entry.name} vs {peer.path}: no sampled case maps onto the peer "
        f"(skipped: {skipped}); fix its record or name a hand-written test in tested_by"
    )
