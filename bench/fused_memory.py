"""Peak planned memory of the fused LM-head losses against the materialised ones.

``python -m bench.fused_memory`` compiles (does not run) value-and-grad w.r.t. the
student's hidden states and output weight at N=8192 tokens, D=512, V=32768, float32, one
device, for each fused loss and its materialised equivalent (``logits = hidden @ weight``,
then the ordinary loss):

* ``linear_softmax_cross_entropy`` vs ``softmax_cross_entropy_with_integer_labels``;
* ``linear_sequence_log_probs`` (8 sequences of 1024 tokens) vs ``sequence_log_probs``;
* ``linear_kl_distillation_loss`` / ``linear_jsd_distillation_loss`` vs
  ``kl_distillation_loss`` / ``jsd_distillation_loss``, the teacher's hidden states and
  weight fixed inputs (a frozen teacher).

It writes XLA's ``memory_analysis()`` (arguments, outputs, temporaries) and the ratio of
fused to materialised temp + argument bytes to ``bench/results/fused_memory_cpu.{json,md}``.
At N=512 (run, not only compiled) it also checks that each fused value and gradient equals
the materialised one (float32 relative error, printed in the table's notes).
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np

import jaxlosses as jl

from ._memory import compiled_memory, write_table

N, D, V = 8192, 512, 32768
SEQ = 8  # sequences of N / SEQ tokens for the sequence log-probabilities


def _pairs(n: int) -> dict[str, tuple]:
    """name -> (fused loss of (h, w, *fixed), materialised loss of (h, w, *fixed), fixed)."""
    y = jnp.zeros(n, jnp.int32)
    ys = jnp.zeros((SEQ, n // SEQ), jnp.int32)

    def seq(x):  # [N, D] -> [SEQ, N / SEQ, D]
        return x.reshape(SEQ, n // SEQ, -1)

    return {
        "linear_softmax_cross_entropy": (
            lambda h, w: jnp.mean(jl.linear_softmax_cross_entropy(h, w, y)),
            lambda h, w: jnp.mean(jl.softmax_cross_entropy_with_integer_labels(h @ w, y)),
            (),
        ),
        "linear_sequence_log_probs": (
            lambda h, w: jnp.mean(jl.linear_sequence_log_probs(seq(h), w, ys)),
            lambda h, w: jnp.mean(jl.sequence_log_probs(seq(h) @ w, ys)),
            (),
        ),
        "linear_kl_distillation_loss": (
            lambda h, w, ht, wt: jnp.mean(jl.linear_kl_distillation_loss(h, w, ht, wt)),
            lambda h, w, ht, wt: jnp.mean(jl.kl_distillation_loss(h @ w, ht @ wt)),
            ("teacher",),
        ),
        "linear_jsd_distillation_loss": (
            lambda h, w, ht, wt: jnp.mean(jl.linear_jsd_distillation_loss(h, w, ht, wt)),
            lambda h, w, ht, wt: jnp.mean(jl.jsd_distillation_loss(h @ w, ht @ wt)),
            ("teacher",),
        ),
    }


def _agreement(n: int = 512) -> dict[str, float]:
    """Worst relative error of the fused value and gradients vs the materialised ones."""
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.normal(size=(n, D)), jnp.float32)
    w = jnp.asarray(0.05 * rng.normal(size=(D, V // 8)), jnp.float32)
    ht = jnp.asarray(rng.normal(size=(n, D)), jnp.float32)
    wt = jnp.asarray(0.05 * rng.normal(size=(D, V // 8)), jnp.float32)
    out = {}
    for name, (fused, plain, fixed) in _pairs(n).items():
        extra = (ht, wt) if fixed else ()
        a = jax.jit(jax.value_and_grad(fused, (0, 1)))(h, w, *extra)
        b = jax.jit(jax.value_and_grad(plain, (0, 1)))(h, w, *extra)
        out[name] = max(
            float(jnp.max(jnp.abs(u - v)) / jnp.maximum(jnp.max(jnp.abs(v)), 1e-30))
            for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))
        )
    return out


def main() -> None:
    h = jax.ShapeDtypeStruct((N, D), jnp.float32)
    w = jax.ShapeDtypeStruct((D, V), jnp.float32)
    rows = []
    agree = _agreement()
    for name, (fused, plain, fixed) in _pairs(N).items():
        extra = (h, w) if fixed else ()
        f = compiled_memory(f"{name} (fused)", jax.value_and_grad(fused, (0, 1)), h, w, *extra)
        m = compiled_memory(
            f"{name} (materialised)", jax.value_and_grad(plain, (0, 1)), h, w, *extra
        )
        ratio = f["temp_plus_argument_mib"] / m["temp_plus_argument_mib"]
        f["ratio_to_materialised"] = ratio
        f["max_rel_error_at_512_tokens"] = agree[name]
        rows += [f, m]
        print(f"{name}: fused / materialised = {ratio:.3f}", flush=True)
    meta = {"N": N, "D": D, "V": V, "dtype": "float32", "devices": 1, "jax": jax.__version__}
    about = [
        "value-and-grad of the mean w.r.t. the student's hidden states and weight, float32,",
        "one CPU device; XLA `memory_analysis()` of the compiled program (MiB). Ratios of",
        "fused to materialised temp + argument, and the fused path's worst relative error",
        "against the materialised one at 512 tokens (V/8 classes, run):",
        "",
        *(
            f"- {r['method'].removesuffix(' (fused)')}: ratio {r['ratio_to_materialised']:.3f}, "
            f"error {r['max_rel_error_at_512_tokens']:.1e}"
            for r in rows
            if "ratio_to_materialised" in r
        ),
    ]
    title = f"Fused LM-head losses vs materialised logits: memory (N={N}, D={D}, V={V})"
    write_table("fused_memory_cpu", title, about, meta, rows)


if __name__ == "__main__":
    main()
