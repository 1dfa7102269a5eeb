"""Training Flax NNX models with jaxlosses losses and optax optimizers.

Three small, complete training loops on synthetic data, each a jitted NNX step
(``nnx.Optimizer`` wrapping an optax optimizer) whose loss comes from jaxlosses:

* :func:`train_classifier` -- an MLP classifier trained with
  ``softmax_cross_entropy_with_integer_labels`` (reduced with ``masked_mean``);
* :func:`train_heteroscedastic` -- a regressor that predicts a mean *and* a variance,
  trained with ``gaussian_nll``; it recovers the noise scale the data was made with;
* :func:`train_data_parallel` -- the classifier's step with the batch split over a
  device mesh by ``jaxlosses.parallel.sharded_mean`` (the exact global mean over valid
  examples), compared with the same step on one device.

Run it as a script to see the numbers::

    python examples/flax_nnx_training.py                 # classifier + regressor
    python examples/flax_nnx_training.py --devices 8     # + data parallel on 8 CPU devices

``--devices`` sets ``jax_num_cpu_devices`` before JAX initialises its backend, so it
simulates a multi-device host on a laptop. The test suite (``tests/test_flax_training.py``)
imports this file and asserts on the returned numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxlosses as jl


class MLP(nnx.Module):
    """``in -> hidden -> hidden -> out`` with ReLU activations."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, rngs: nnx.Rngs) -> None:
        self.l1 = nnx.Linear(n_in, n_hidden, rngs=rngs)
        self.l2 = nnx.Linear(n_hidden, n_hidden, rngs=rngs)
        self.l3 = nnx.Linear(n_hidden, n_out, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jax.nn.relu(self.l1(x))
        x = jax.nn.relu(self.l2(x))
        return self.l3(x)


# --- classification ---------------------------------------------------------------------


def sector_data(rng: np.random.Generator, n: int, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Points in the plane labelled by which of ``k`` angular sectors they fall in.

    The points fill a ring of radii 1 to 2 and the label is ``floor(k * angle / 2pi)``:
    the classes do not overlap, so a perfect classifier exists and the accuracy measures
    how far training converged.
    """
    r = rng.uniform(1.0, 2.0, n)
    theta = rng.uniform(0.0, 2 * np.pi, n)
    x = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=-1).astype(np.float32)
    y = np.minimum((theta / (2 * np.pi) * k).astype(np.int32), k - 1)
    return x, y


# --8<-- [start:classifier]
def classifier_loss(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy of the model's logits."""
    per_example = jl.softmax_cross_entropy_with_integer_labels(model(x), y)
    return jl.masked_mean(per_example)


@nnx.jit
def classifier_step(model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array) -> jax.Array:
    """One optimisation step; ``model`` and ``optimizer`` are updated in place."""
    loss, grads = nnx.value_and_grad(classifier_loss)(model, x, y)
    optimizer.update(model, grads)
    return loss


# --8<-- [end:classifier]


@nnx.jit
def _accuracy(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def accuracy(model: MLP, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of examples whose largest logit is the label's."""
    return float(_accuracy(model, jnp.asarray(x), jnp.asarray(y)))


def train_classifier(
    *, steps: int = 300, batch: int = 128, k: int = 3, seed: int = 0
) -> dict[str, float]:
    """Trains an MLP on :func:`sector_data`; returns losses and held-out accuracy."""
    rng = np.random.default_rng(seed)
    x_train, y_train = sector_data(rng, 2048, k)
    x_test, y_test = sector_data(rng, 1024, k)
    model = MLP(2, 32, k, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    # cached_partial: the step's graph traversal is done once, not on every call.
    step = nnx.cached_partial(classifier_step, model, optimizer)
    batches = rng.integers(0, len(x_train), (steps, batch))
    losses = [step(x_train[idx], y_train[idx]) for idx in batches]
    return {
        "first_loss": float(losses[0]),
        "final_loss": float(losses[-1]),
        "train_accuracy": accuracy(model, x_train, y_train),
        "test_accuracy": accuracy(model, x_test, y_test),
    }


# --- heteroscedastic regression -----------------------------------------------------------


def true_mean(x: np.ndarray) -> np.ndarray:
    return np.sin(3.0 * x)


def true_sigma(x: np.ndarray) -> np.ndarray:
    """The noise scale grows linearly from 0.05 at x = -1 to 0.45 at x = 1."""
    return 0.25 + 0.2 * x


def regression_data(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1.0, 1.0, (n, 1))
    y = true_mean(x) + true_sigma(x) * rng.standard_normal((n, 1))
    return x.astype(np.float32), y.astype(np.float32)


# --8<-- [start:regressor]
class MeanVarianceMLP(nnx.Module):
    """Predicts a mean and a variance (softplus of a raw output, kept above 1e-4)."""

    def __init__(self, n_hidden: int, *, rngs: nnx.Rngs) -> None:
        self.body = MLP(1, n_hidden, 2, rngs=rngs)

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        out = self.body(x)
        return out[:, :1], jax.nn.softplus(out[:, 1:]) + 1e-4


def nll_loss(model: MeanVarianceMLP, x: jax.Array, y: jax.Array) -> jax.Array:
    """The Gaussian negative log-likelihood of the targets under the predicted N(mu, var)."""
    means, variances = model(x)
    return jl.masked_mean(jl.gaussian_nll(means, y, variances))


@nnx.jit
def regression_step(
    model: MeanVarianceMLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array
) -> jax.Array:
    loss, grads = nnx.value_and_grad(nll_loss)(model, x, y)
    optimizer.update(model, grads)
    return loss


# --8<-- [end:regressor]


def train_heteroscedastic(*, steps: int = 800, seed: int = 0) -> dict[str, Any]:
    """Fits mean and variance by maximum likelihood; returns the recovered noise scale.

    The data has a known noise scale per input (:func:`true_sigma`); after training,
    ``sqrt(variance)`` predicted on a grid is compared with it.
    """
    rng = np.random.default_rng(seed)
    x, y = regression_data(rng, 4096)
    model = MeanVarianceMLP(32, rngs=nnx.Rngs(seed))
    optimizer = nnx.Optimizer(
        model, optax.adam(optax.cosine_decay_schedule(1e-2, steps)), wrt=nnx.Param
    )
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    step = nnx.cached_partial(regression_step, model, optimizer)
    losses = [step(xj, yj) for _ in range(steps)]  # full batch
    first, last = float(losses[0]), float(losses[-1])
    grid = np.linspace(-0.9, 0.9, 7, dtype=np.float32)[:, None]
    means, variances = model(jnp.asarray(grid))
    sigma = np.sqrt(np.asarray(variances))[:, 0]
    truth = true_sigma(grid)[:, 0]
    return {
        "first_loss": first,
        "final_loss": last,
        "grid": grid[:, 0].round(2).tolist(),
        "true_sigma": truth.round(4).tolist(),
        "fitted_sigma": sigma.round(4).tolist(),
        "max_sigma_rel_error": float(np.max(np.abs(sigma - truth) / truth)),
        "max_mean_abs_error": float(
            np.max(np.abs(np.asarray(means)[:, 0] - true_mean(grid)[:, 0]))
        ),
        # The residual scale a constant-variance model would assume, for contrast.
        "pooled_sigma": float(np.std(y - true_mean(x))),
    }


# --- data parallel ------------------------------------------------------------------------


def train_data_parallel(*, steps: int = 200, batch: int = 128, seed: int = 0) -> dict[str, Any]:
    """The classifier's step with the batch sharded over every device.

    ``sharded_mean`` runs the per-example loss on each device's shard and returns the
    exact mean over the valid examples of the whole batch; the last batch of every step
    is padded with masked examples (as a real data loader would at the end of an epoch)
    to show that masked examples spread unevenly over the shards do not skew the mean.
    The same steps are also taken on one device with ``masked_mean`` and the parameters
    compared.
    """
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from jaxlosses.parallel import sharded_mean

    # --8<-- [start:parallel]
    n_dev = jax.device_count()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    data = NamedSharding(mesh, P("data"))

    def per_example(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
        return jl.softmax_cross_entropy_with_integer_labels(model(x), y)

    global_mean = sharded_mean(per_example, mesh)  # the model is not an array: replicated

    @nnx.jit
    def parallel_step(
        model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array, valid: jax.Array
    ) -> jax.Array:
        loss, grads = nnx.value_and_grad(lambda m: global_mean(m, x, y, where=valid))(model)
        optimizer.update(model, grads)
        return loss

    # --8<-- [end:parallel]

    @nnx.jit
    def single_step(
        model: MLP, optimizer: nnx.Optimizer, x: jax.Array, y: jax.Array, valid: jax.Array
    ) -> jax.Array:
        def loss_fn(m: MLP) -> jax.Array:
            return jl.masked_mean(per_example(m, x, y), where=valid)

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    rng = np.random.default_rng(seed)
    x_train, y_train = sector_data(rng, 2048)
    x_test, y_test = sector_data(rng, 1024)
    par = MLP(2, 32, 3, rngs=nnx.Rngs(seed))
    one = MLP(2, 32, 3, rngs=nnx.Rngs(seed))
    opt_par = nnx.Optimizer(par, optax.adam(1e-2), wrt=nnx.Param)
    opt_one = nnx.Optimizer(one, optax.adam(1e-2), wrt=nnx.Param)
    worst_loss_diff = 0.0
    shard_of_x = None
    for _ in range(steps):
        idx = rng.integers(0, len(x_train), batch)
        valid = np.ones(batch, bool)
        valid[rng.integers(0, batch, batch // 4)] = False  # ~22% masked, unevenly
        xb, yb, vb = x_train[idx], y_train[idx], valid
        xs, ys, vs = (jax.device_put(a, data) for a in (xb, yb, vb))
        shard_of_x = xs.sharding
        lp = float(parallel_step(par, opt_par, xs, ys, vs))
        lo = float(single_step(one, opt_one, xb, yb, vb))
        worst_loss_diff = max(worst_loss_diff, abs(lp - lo))
    leaves_p = jax.tree.leaves(nnx.state(par, nnx.Param))
    leaves_o = jax.tree.leaves(nnx.state(one, nnx.Param))
    param_diff = max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves_p, leaves_o))
    return {
        "devices": n_dev,
        "batch_sharding": str(shard_of_x.spec if shard_of_x is not None else None),
        "max_loss_diff_vs_single_device": worst_loss_diff,
        "max_param_diff_vs_single_device": param_diff,
        "test_accuracy": accuracy(par, x_test, y_test),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=0, help="simulate N CPU devices")
    parser.add_argument(
        "--only", choices=["classifier", "heteroscedastic", "data_parallel"], nargs="+"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.devices:
        jax.config.update("jax_platforms", "cpu")
        jax.config.update("jax_num_cpu_devices", args.devices)
    runs = {
        "classifier": train_classifier,
        "heteroscedastic": train_heteroscedastic,
        "data_parallel": train_data_parallel,
    }
    chosen = args.only or (list(runs) if args.devices > 1 else ["classifier", "heteroscedastic"])
    results: dict[str, Any] = {}
    for name in chosen:
        start = time.perf_counter()
        results[name] = runs[name]()
        results[name]["seconds"] = round(time.perf_counter() - start, 2)
        if not args.json:
            print(name, json.dumps(results[name], indent=2))
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
