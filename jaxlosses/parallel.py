"""Per-example, batched and multi-device evaluation of any loss.

Every loss in the package returns unreduced per-example values, so running it on one
example, a batch, or a batch split across devices only changes *where the reduction
happens*. This module provides the three wrappers:

* :func:`per_example` — ``jax.vmap`` over a leading batch axis, for a loss written for
  one example;
* :func:`sharded_mean` — ``jax.shard_map`` over a device mesh, returning the **exact**
  global mean over valid entries (the masked sums and the counts are ``psum``-ed
  separately, so shards with different numbers of valid entries are weighted right);
* :func:`pmap_mean` — the same reduction for code still written with ``jax.pmap``;
* :func:`vocab_parallel_cross_entropy` — the fused linear + softmax cross-entropy with
  the output weight split along its classes (vocabulary parallelism) and the tokens
  along the batch axis.

``jax.pmap`` is in maintenance mode in current JAX; new code should use
:func:`sharded_mean` (``jax.shard_map``) or plain ``jax.jit`` with sharded inputs.

How masks and weights are passed: the functions returned by :func:`sharded_mean` and
:func:`pmap_mean` take keyword-only ``where=`` (boolean, the shape of the loss output)
and ``weights=`` (same shape); they are used by the *reduction*, with the semantics of
:func:`jaxlosses.masked_mean`:

.. math:: \\bar\\ell = \\frac{\\sum_i w_i m_i \\ell_i}{\\sum_i w_i m_i}

and are sharded along the batch axis like the inputs. With ``forward_where=True`` the
mask is also passed to the loss as its own ``where=`` keyword (for losses whose
``where`` is a per-example mask, such as
:func:`jaxlosses.linear_softmax_cross_entropy`, where that enables the fast gradient).
Every other keyword argument is forwarded to the loss. A loss's own ``weights=`` (class
weights, ``[K]``) is therefore bound before wrapping,
``sharded_mean(functools.partial(loss, weights=class_weights), mesh)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jax.typing import ArrayLike

from ._core import is_array
from ._coupling import batch_coupling, unwrap_partial

__all__ = ["per_example", "pmap_mean", "sharded_mean", "vocab_parallel_cross_entropy"]

LossFn = Callable[..., Any]


def per_example(
    loss_fn: LossFn,
    *,
    in_axes: int | tuple[int | None, ...] = 0,
    kw_axes: dict[str, int | None] | None = None,
) -> Callable[..., jax.Array]:
    """Maps a loss written for one example over a leading batch axis (``jax.vmap``).

    Args:
      loss_fn: ``loss_fn(*args, **kwargs)`` for **one** example (e.g. a scalar loss of a
        ``[D]`` prediction).
      in_axes: the batch axis of each positional argument, as in :func:`jax.vmap`
        (``None`` broadcasts the argument, e.g. shared parameters).
      kw_axes: batch axes of array keyword arguments; keyword arguments not named here
        are broadcast (hyperparameters, shared masks).

    Returns:
      ``batched(*args, **kwargs)`` returning the stacked per-example losses ``[B, ...]``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> from jaxlosses.parallel import per_example
      >>> def one(x, y):  # written for a single example
      ...     return jnp.sum((x - y) ** 2)
      >>> per_example(one)(jnp.ones((3, 2)), jnp.zeros((3, 2))).tolist()
      [2.0, 2.0, 2.0]
    """
    mapped_names = dict(kw_axes or {})

    @functools.wraps(loss_fn)
    def batched(*args: Any, **kwargs: Any) -> jax.Array:
        mapped = {k: v for k, v in kwargs.items() if mapped_names.get(k) is not None}
        static = {k: v for k, v in kwargs.items() if k not in mapped}

        def one(pos: tuple[Any, ...], kw: dict[str, Any]) -> jax.Array:
            return loss_fn(*pos, **kw, **static)

        axes = in_axes if isinstance(in_axes, int) else tuple(in_axes)
        return jax.vmap(one, in_axes=(axes, {k: mapped_names[k] for k in mapped}))(
            tuple(args), mapped
        )

    return batched


def _local_sums(
    losses: jax.Array, where: jax.Array | None, weights: jax.Array | None
) -> tuple[jax.Array, jax.Array]:
    """``(sum w m l, sum w m)`` in at least float32; masked entries never leak (double where)."""
    x = losses.astype(jnp.promote_types(losses.dtype, jnp.float32))
    w = jnp.ones_like(x) if weights is None else jnp.broadcast_to(weights, x.shape).astype(x.dtype)
    if where is not None:
        w = jnp.where(jnp.broadcast_to(where, x.shape), w, 0.0)
    use = w != 0
    num = jnp.sum(jnp.where(use, w * jnp.where(use, x, 0.0), 0.0))
    return num, jnp.sum(w)


def _ratio(num: jax.Array, den: jax.Array) -> jax.Array:
    nz = den != 0
    return jnp.where(nz, num / jnp.where(nz, den, 1.0), 0.0)


def sharded_mean(
    loss_fn: LossFn,
    mesh: Mesh,
    *,
    batch_axis: str = "data",
    replicated: Collection[int | str] = (),
    forward_where: bool = False,
) -> Callable[..., jax.Array]:
    """The exact global mean of a loss over a batch sharded across a device mesh.

    Each device evaluates ``loss_fn`` on its shard and reduces it to a masked sum and a
    count; both are ``psum``-ed over ``batch_axis`` and divided once, so the result is
    the mean over every valid entry of the global batch however unevenly the mask falls
    on the shards (a mean of per-shard means would not be). A fully masked global batch
    gives 0 with a zero gradient. The wrapper is differentiable (gradients of
    replicated parameters come back already summed over the devices) and jit-able, so
    it drops into a data-parallel optax training step::

        loss = sharded_mean(model_loss, mesh, replicated=(0,))
        grads = jax.grad(loss)(params, inputs, labels, where=valid)

    Args:
      loss_fn: ``loss_fn(*args, **kwargs)`` returning per-example losses whose leading
        axis is the batch axis.
      mesh: the device mesh; it may have other axes (a model axis), over which the
        inputs are replicated. Any mesh works: ``jax.make_mesh`` (Explicit axes, its
        default), Auto axes, inside a ``jax.set_mesh`` context or not, with inputs
        already placed by ``NamedSharding`` or plain arrays. (With inputs placed on an
        Explicit mesh and no mesh context, take gradients under ``jax.jit``: that is
        JAX's own rule for explicitly sharded values.)
      batch_axis: the mesh axis the batch is split over. The global batch size must be
        divisible by the size of this axis (pad and mask the remainder).
      replicated: positions (ints) or keyword names (strs) of array arguments that are
        not split (a shared weight matrix). All other array arguments, and
        ``where``/``weights``, are split along their leading axis; pytrees holding arrays
        (a parameter dict, a Flax module) are passed whole to every device; other
        arguments (hyperparameters) are passed through unchanged.
      forward_where: also pass ``where`` to ``loss_fn`` as its ``where=`` keyword.

    Returns:
      ``mean_fn(*args, where=None, weights=None, **kwargs)`` returning a scalar, the
      dtype of the loss computed in at least float32.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> import jaxlosses as jl
      >>> from jax.sharding import Mesh, NamedSharding
      >>> from jaxlosses.parallel import sharded_mean
      >>> mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
      >>> loss = sharded_mean(jl.squared_error, mesh)
      >>> float(loss(jnp.array([1.0, 2.0, 3.0, 4.0]), jnp.zeros(4),
      ...            where=jnp.array([True, True, False, False])))
      2.5
    """
    gather_kw = _refuse_coupled(loss_fn, "sharded_mean")
    replicated_args = set(replicated)

    def mean_fn(
        *args: Any, where: ArrayLike | None = None, weights: ArrayLike | None = None, **kwargs: Any
    ) -> jax.Array:
        rep: set[int | str] = set(replicated_args)
        # Arrays are split along the batch axis (unless `replicated`); pytrees holding
        # arrays (a params dict, a module) are passed whole to every device; the rest
        # (hyperparameters) is static.
        pos = [jnp.asarray(a) if is_array(a) else a for a in args]
        arr_kw = {k: jnp.asarray(v) if is_array(v) else v for k, v in kwargs.items() if _is_data(v)}
        static_kw = {k: v for k, v in kwargs.items() if k not in arr_kw}
        arr_pos = [i for i, a in enumerate(args) if _is_data(a)]
        rep |= {i for i in arr_pos if not is_array(args[i])}
        rep |= {k for k, v in arr_kw.items() if not is_array(v)}
        red = {
            k: jnp.asarray(v) for k, v in (("where", where), ("weights", weights)) if v is not None
        }
        n_dev = mesh.shape[batch_axis]
        split: list[tuple[str, Any]] = [
            *((f"argument {i}", pos[i]) for i in arr_pos if i not in rep),
            *((f"`{k}`", v) for k, v in arr_kw.items() if k not in rep),
            *((f"`{k}`", v) for k, v in red.items()),
        ]
        for label, tree in split:
            for a in jax.tree.leaves(tree):
                if a.ndim == 0 or a.shape[0] % n_dev:
                    raise ValueError(
                        f"sharded_mean: {label} with shape {a.shape} cannot be split along "
                        f"its leading axis over the {n_dev} devices of mesh axis "
                        f"'{batch_axis}'. Pad the batch to a multiple and mask the padding "
                        "with `where=`, or list the argument in `replicated=` if it is not "
                        "batched."
                    )

        def spec(key: int | str) -> P:
            return P() if key in rep else P(batch_axis)

        pos_arrays = tuple(pos[i] for i in arr_pos)
        in_specs = (
            tuple(spec(i) for i in arr_pos),
            {k: spec(k) for k in arr_kw},
            {k: P(batch_axis) for k in red},
        )

        def local(pa: tuple[Any, ...], kw: dict[str, Any], r: dict[str, jax.Array]) -> jax.Array:
            full = list(pos)
            for i, a in zip(arr_pos, pa):
                full[i] = a
            extra: dict[str, Any] = {"where": r["where"]} if forward_where and "where" in r else {}
            if gather_kw:  # a coupled loss that gathers the other shards itself
                extra[gather_kw] = batch_axis
            losses = jnp.asarray(loss_fn(*full, **kw, **static_kw, **extra))
            num, den = _local_sums(losses, r.get("where"), r.get("weights"))
            num, den = lax.psum((num, den), batch_axis)
            return _ratio(num, den)

        args_in = (pos_arrays, arr_kw, red)
        if not _explicit_in_use(mesh, args_in):
            # Auto axes: shard_map splits unplaced inputs itself. (``jax.make_mesh`` gives
            # Explicit axes by default; with plain inputs and no mesh context, running on
            # the same devices with Auto axes is the same computation.)
            sharded = jax.shard_map(local, mesh=_auto(mesh), in_specs=in_specs, out_specs=P())
            return sharded(*args_in)
        # Explicit axes in use (inputs placed on the mesh, or a `jax.set_mesh` context):
        # shard_map wants its inputs laid out as in_specs say; reshard (a no-op where
        # they already are).
        args_in = jax.tree.map(
            lambda s, tree: jax.tree.map(
                lambda a: jax.sharding.reshard(a, NamedSharding(mesh, s)), tree
            ),
            in_specs,
            args_in,
            is_leaf=lambda x: isinstance(x, P),
        )
        return jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=P())(*args_in)

    return mean_fn


def _explicit_in_use(mesh: Mesh, tree: Any) -> bool:
    """Whether explicit sharding is in force: a context mesh, or inputs typed with one."""
    explicit = jax.sharding.AxisType.Explicit
    if not any(t == explicit for t in mesh.axis_types):
        return False
    context = jax.sharding.get_abstract_mesh()
    if not context.empty and any(t == explicit for t in context.axis_types):
        return True
    for leaf in jax.tree.leaves(tree):
        m = jax.typeof(leaf).sharding.mesh
        if not m.empty and any(t == explicit for t in m.axis_types):
            return True
    return False


def _refuse_coupled(loss_fn: LossFn, wrapper: str) -> str:
    """Refuses a loss that couples the examples of a batch (its shards would differ),
    unless it gathers the other devices' examples itself: then its keyword for that."""
    coupling = batch_coupling(loss_fn)
    if coupling is None:
        return ""
    if coupling.gathers:
        return coupling.gathers
    name = getattr(unwrap_partial(loss_fn), "__name__", "this loss")
    instead = coupling.instead or (
        "Compute it on the whole batch instead: call it under jax.jit with the inputs "
        "sharded by NamedSharding (XLA gathers what it needs), or gather the shards with "
        "jax.lax.all_gather inside your own shard_map before calling it."
    )
    raise ValueError(
        f"{wrapper}: {name} couples the examples of a batch ({coupling.what}), so on a "
        "batch split across devices each shard would see only its own examples and the "
        f"loss would differ from the one-device loss of the same batch. {instead}"
    )


def _auto(mesh: Mesh) -> Mesh:
    """The mesh with Auto axis types (``jax.make_mesh`` makes Explicit ones by default)."""
    auto = jax.sharding.AxisType.Auto
    if all(t == auto for t in mesh.axis_types):
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(auto,) * len(mesh.axis_names))


def _is_data(x: Any) -> bool:
    """Arrays (jax or NumPy) and pytrees holding them (a params dict) are data; Python
    scalars and other objects are hyperparameters."""
    leaves = jax.tree.leaves(x)
    return bool(leaves) and any(is_array(a) for a in leaves)


def pmap_mean(loss_fn: LossFn, axis_name: str) -> Callable[..., jax.Array]:
    """The exact global mean over valid entries, for a loss called inside ``jax.pmap``.

    ``jax.pmap`` is in maintenance mode; prefer :func:`sharded_mean`, which does the
    same over a :class:`jax.sharding.Mesh` with ``jax.shard_map``. This wrapper keeps
    ``pmap`` code correct meanwhile: the value on every device is the global mean
    ``psum(sum w m l) / psum(sum w m)``, and the gradient on each device is *that
    device's share* of the global gradient, so the data-parallel step sums them::

        def step(params, x, y, valid):
            loss = pmap_mean(model_loss, "batch")
            value, grads = jax.value_and_grad(loss)(params, x, y, where=valid)
            grads = jax.lax.psum(grads, "batch")  # the exact global gradient
            ...
        jax.pmap(step, axis_name="batch")

    (The share is taken explicitly, with ``stop_gradient`` on the global terms, so
    the result does not depend on how a JAX version transposes ``psum`` under
    ``pmap``.)

    Args:
      loss_fn: returns per-example losses for the device's shard.
      axis_name: the ``axis_name`` given to :func:`jax.pmap`.

    Returns:
      ``mean_fn(*args, where=None, weights=None, **kwargs)`` to call inside ``pmap``;
      ``where``/``weights`` are the per-example mask and weights of the shard.
    """
    gather_kw = _refuse_coupled(loss_fn, "pmap_mean")

    def mean_fn(
        *args: Any, where: ArrayLike | None = None, weights: ArrayLike | None = None, **kwargs: Any
    ) -> jax.Array:
        if gather_kw:
            kwargs = {gather_kw: axis_name, **kwargs}
        losses = jnp.asarray(loss_fn(*args, **kwargs))
        m = None if where is None else jnp.asarray(where)
        w = None if weights is None else jnp.asarray(weights)
        num, den = _local_sums(losses, m, w)
        total_den = lax.psum(lax.stop_gradient(den), axis_name)
        total_num = lax.psum(lax.stop_gradient(num), axis_name)
        share = _ratio(num, total_den)
        # value: the global mean; gradient: d(share) -- this device's part of it.
        return _ratio(total_num, total_den) + (share - lax.stop_gradient(share))

    return mean_fn


def vocab_parallel_cross_entropy(
    mesh: Mesh,
    *,
    batch_axis: str | None = "data",
    vocab_axis: str = "model",
) -> Callable[..., jax.Array]:
    """:func:`jaxlosses.linear_softmax_cross_entropy` with the weight split along ``V``.

    Sets up the :func:`jax.shard_map`: the tokens (``hidden``, ``labels``, ``where``) are
    split along their leading axis over ``batch_axis``, the weight's columns (and
    ``bias`` and the class ``weights``) over ``vocab_axis``, and each device calls the
    loss with ``vocab_axis_name=vocab_axis`` on its blocks. A device therefore holds
    ``[N/d, D]`` tokens and a ``[D, V/m]`` block of the weight, computes
    ``[chunk, V/m]`` logits at a time, and the per-token statistics (max, softmax
    normaliser, target logit, smoothing sums) are combined with ``pmax``/``psum`` over
    ``vocab_axis``: the ``[N, V]`` logits and the whole ``[D, V]`` weight are never on
    one device (and neither is its ``[D, V]`` gradient). The result equals the
    one-device loss, values and gradients (w.r.t. ``hidden``, ``weight``, ``bias`` and
    ``weights``), which come back with the inputs' shardings.

    Args:
      mesh: the device mesh; ``jax.make_mesh`` (Explicit axes, its default), Auto axes,
        inside a ``jax.set_mesh`` context or not, with placed or plain inputs (as for
        :func:`sharded_mean`). Other axes replicate.
      batch_axis: the mesh axis the tokens are split over (``None``: not split). The
        leading size of ``hidden`` must be divisible by its size.
      vocab_axis: the mesh axis the classes are split over; ``V`` must be divisible by
        its size.

    Returns:
      ``loss(hidden, weight, labels, *, bias=None, where=None, weights=None,
      **hyperparameters)`` returning the per-token losses, shape ``labels.shape``, split
      over ``batch_axis``; ``weight`` is the global ``[D, V]`` (placed with
      ``NamedSharding(mesh, P(None, vocab_axis))`` to never gather it) and
      ``hyperparameters`` are those of the loss (``label_smoothing``, ``z_loss``,
      ``chunk_size``, ``custom_vjp``). Reduce with ``jnp.mean`` or
      :func:`jaxlosses.masked_mean` (same ``where``: the fast gradient).

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import numpy as np
      >>> import jaxlosses as jl
      >>> from jax.sharding import Mesh
      >>> from jaxlosses.parallel import vocab_parallel_cross_entropy
      >>> mesh = Mesh(np.array(jax.devices()[:1]).reshape(1, 1), ("data", "model"))
      >>> loss = vocab_parallel_cross_entropy(mesh)
      >>> hidden = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
      >>> weight = jnp.array([[1.0, -1.0, 0.0], [0.5, 0.0, -0.5]])
      >>> loss(hidden, weight, jnp.array([0, 2, 1])).round(4).tolist()
      [0.4076, 2.4076, 2.6967]
    """
    from ._fused import linear_softmax_cross_entropy

    fn = "vocab_parallel_cross_entropy"
    for name, ax in (("batch_axis", batch_axis), ("vocab_axis", vocab_axis)):
        if ax is not None and ax not in mesh.shape:
            raise ValueError(
                f"{fn}: `{name}`={ax!r} is not an axis of the mesh, whose axes are "
                f"{tuple(mesh.axis_names)}."
            )
    if batch_axis == vocab_axis:
        raise ValueError(f"{fn}: `batch_axis` and `vocab_axis` must differ, both {vocab_axis!r}.")

    def loss(
        hidden: ArrayLike,
        weight: ArrayLike,
        labels: ArrayLike,
        *,
        bias: ArrayLike | None = None,
        where: ArrayLike | None = None,
        weights: ArrayLike | None = None,
        **hyperparameters: Any,
    ) -> jax.Array:
        if "vocab_axis_name" in hyperparameters:
            raise TypeError(f"{fn}: `vocab_axis_name` is set by the wrapper (`vocab_axis`).")
        h, w, y = jnp.asarray(hidden), jnp.asarray(weight), jnp.asarray(labels)
        n_vocab = mesh.shape[vocab_axis]
        if w.ndim != 2 or w.shape[1] % n_vocab:
            raise ValueError(
                f"{fn}: `weight` has shape {w.shape}; it needs to be [D, V] with V divisible "
                f"by the {n_vocab} devices of mesh axis '{vocab_axis}'. Pad the vocabulary "
                "(with a bias of -inf, or class weights of 0, on the padding classes)."
            )
        n_batch = 1 if batch_axis is None else mesh.shape[batch_axis]
        if h.ndim < 2 or h.shape[0] % n_batch:
            raise ValueError(
                f"{fn}: `hidden` has shape {h.shape}; its leading (token or batch) axis "
                f"must be divisible by the {n_batch} devices of mesh axis '{batch_axis}'. "
                "Pad the batch and mask the padding with `where=`."
            )
        tok, cls = P(batch_axis), P(vocab_axis)
        arrays: dict[str, jax.Array] = {"hidden": h, "weight": w, "labels": y}
        specs: dict[str, P] = {"hidden": tok, "weight": P(None, vocab_axis), "labels": tok}
        for k, v, spec in (("bias", bias, cls), ("where", where, tok), ("weights", weights, cls)):
            if v is not None:
                arrays[k], specs[k] = jnp.asarray(v), spec

        def local(a: dict[str, jax.Array]) -> jax.Array:
            return linear_softmax_cross_entropy(
                a["hidden"],
                a["weight"],
                a["labels"],
                bias=a.get("bias"),
                where=a.get("where"),
                weights=a.get("weights"),
                **hyperparameters,
                vocab_axis_name=vocab_axis,
            )

        if not _explicit_in_use(mesh, arrays):
            sharded = jax.shard_map(local, mesh=_auto(mesh), in_specs=(specs,), out_specs=tok)
            return sharded(arrays)
        arrays = {
            k: jax.sharding.reshard(v, NamedSharding(mesh, specs[k])) for k, v in arrays.items()
        }
        return jax.shard_map(local, mesh=mesh, in_specs=(specs,), out_specs=tok)(arrays)

    return loss
