"""``python -m bench.peers``: jaxlosses against the other library a user would pick, at scale.

:mod:`bench.realistic` compares the losses shared with optax; this compares the rest of
the peers named in the catalogue at the shapes their users train at: PyTorch's
cross-entropy and CTC, pytorch-crf, pytorch-metric-learning's ArcFace (10^5 classes) and
NT-Xent (512 embeddings: PML's pair mask needs 68 GB at 4096), and Rax's ListMLE. Each step is a full training step's loss
work: the value and the gradient w.r.t. every learned input (jaxlosses: one
``jax.jit(jax.value_and_grad(...))`` compiled ahead of time; PyTorch: forward and
``backward()`` on the CPU build, eager, its default threads; Rax: jitted like ours).

Timing as in :mod:`bench.realistic`: warm-up, alternating rounds (jaxlosses first in even
rounds), the median of each round's calls, the median over rounds and the band of the
per-round ratios jaxlosses / peer. The values of both sides are compared as a guard on the
inputs (the conformance tests are the proof). Writes ``bench/results/peers_<backend>.json``
and ``.md``; a peer that is not installed is reported, not run.
"""

from __future__ import annotations

import importlib.util
import json
import math
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.realistic import arguments, print_row, slower_line, time_pair

# (loss, inputs, peer, the module the peer needs, builder name)
CASES = [
    ("softmax_cross_entropy_with_integer_labels", "LM head, 4096 tokens x 32000 vocab",
     "torch.nn.functional.cross_entropy", "torch", "_lm_head"),
    ("ctc_loss", "speech 32 x 200 frames x 32 tokens, <= 50 labels",
     "torch.nn.functional.ctc_loss", "torch", "_ctc"),
    ("crf_loss", "tagging 64 x 128 steps x 50 tags, start/end scores",
     "pytorch-crf CRF", "torchcrf", "_crf"),
    ("arcface_loss", "faces 256 x 512, 100000 classes",
     "pytorch-metric-learning ArcFaceLoss", "pytorch_metric_learning", "_arcface"),
    ("ntxent", "SimCLR 512 views x 128 (at 4096 views PML allocates 68 GB)",
     "pytorch-metric-learning NTXentLoss", "pytorch_metric_learning", "_ntxent"),
    ("listmle_loss", "ranking 1024 lists x 200 items",
     "rax.listmle_loss", "rax", "_listmle"),
]  # fmt: skip

Side = Callable[[], Any]


def _jax_step(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Side, float]:
    """A compiled value-and-grad of ``fn`` w.r.t. every argument, and its compile time."""
    import jax
    import jax.numpy as jnp

    jargs = tuple(jnp.asarray(a) for a in args)
    t0 = time.perf_counter()
    step = jax.jit(jax.value_and_grad(fn, tuple(range(len(args))))).lower(*jargs).compile()
    return (lambda: step(*jargs)), time.perf_counter() - t0


def _torch_step(loss: Callable[..., Any], params: list[Any]) -> Side:
    """Forward and backward of ``loss()``; returns the value (a Python float)."""

    def step() -> float:
        for p in params:
            p.grad = None
        value = loss()
        value.backward()
        return float(value.detach())

    return step


def _lm_head(rng: Any) -> tuple[Side, Side, float, float]:
    import numpy as np
    import torch

    import jaxlosses as jl

    x = (2.0 * rng.standard_normal((4096, 32000))).astype(np.float32)
    y = rng.integers(0, 32000, 4096).astype(np.int32)
    ours, compile_s = _jax_step(
        lambda x: jl.softmax_cross_entropy_with_integer_labels(x, y).mean(), (x,)
    )
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, dtype=torch.long)
    theirs = _torch_step(lambda: torch.nn.functional.cross_entropy(tx, ty), [tx])
    return ours, theirs, compile_s, float(ours()[0])


def _ctc(rng: Any) -> tuple[Side, Side, float, float]:
    import numpy as np
    import torch

    import jaxlosses as jl

    b, t, k, n = 32, 200, 32, 50
    x = rng.standard_normal((b, t, k)).astype(np.float32)
    labels = rng.integers(1, k, (b, n)).astype(np.int32)
    label_len = rng.integers(20, n, b)
    frames = rng.integers(150, t, b)
    lpad = (np.arange(n) >= label_len[:, None]).astype(np.float32)
    fpad = (np.arange(t) >= frames[:, None]).astype(np.float32)
    ours, compile_s = _jax_step(lambda x: jl.ctc_loss(x, fpad, labels, lpad).mean(), (x,))
    tx = torch.tensor(x, requires_grad=True)

    def loss() -> Any:
        log_probs = torch.log_softmax(tx, -1).transpose(0, 1)  # time-major
        total = torch.nn.functional.ctc_loss(
            log_probs,
            torch.tensor(labels, dtype=torch.long),
            torch.tensor(frames),
            torch.tensor(label_len),
            reduction="sum",
        )
        return total / b

    return ours, _torch_step(loss, [tx]), compile_s, float(ours()[0])


def _crf(rng: Any) -> tuple[Side, Side, float, float]:
    import numpy as np
    import torch
    import torchcrf

    import jaxlosses as jl

    b, t, k = 64, 128, 50
    e = rng.standard_normal((b, t, k)).astype(np.float32)
    tags = rng.integers(0, k, (b, t)).astype(np.int32)
    lengths = rng.integers(t // 2 + 1, t + 1, b)
    lengths[0] = t  # pytorch-crf needs the first step of every sequence valid
    mask = np.arange(t) < lengths[:, None]
    tr, start, end = (0.1 * rng.standard_normal(s).astype(np.float32) for s in ((k, k), k, k))

    def mean(e: Any, tr: Any, start: Any, end: Any) -> Any:
        return jl.crf_loss(
            e, tags, tr, mask=mask, start_transitions=start, end_transitions=end
        ).mean()

    ours, compile_s = _jax_step(mean, (e, tr, start, end))
    crf = torchcrf.CRF(k, batch_first=True)
    crf.transitions.data = torch.tensor(tr)
    crf.start_transitions.data = torch.tensor(start)
    crf.end_transitions.data = torch.tensor(end)
    te = torch.tensor(e, requires_grad=True)
    ttags, tmask = torch.tensor(tags, dtype=torch.long), torch.tensor(mask)
    theirs = _torch_step(lambda: -crf(te, ttags, tmask, reduction="mean"), [te, *crf.parameters()])
    return ours, theirs, compile_s, float(ours()[0])


def _arcface(rng: Any) -> tuple[Side, Side, float, float]:
    import numpy as np
    import torch
    from pytorch_metric_learning import losses

    import jaxlosses as jl

    batch, dim, classes = 256, 512, 100_000
    w = rng.standard_normal((classes, dim)).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    e = (w[labels] + 1.5 * rng.standard_normal((batch, dim))).astype(np.float32)
    ours, compile_s = _jax_step(lambda e, w: jl.arcface_loss(e, w, labels).mean(), (e, w))
    pml = losses.ArcFaceLoss(
        num_classes=classes, embedding_size=dim, margin=math.degrees(0.5), scale=64.0
    )
    pml.W.data = torch.tensor(w.T.copy())
    te = torch.tensor(e, requires_grad=True)
    tl = torch.tensor(labels, dtype=torch.long)
    theirs = _torch_step(lambda: pml(te, tl), [te, pml.W])
    return ours, theirs, compile_s, float(ours()[0])


def _ntxent(rng: Any) -> tuple[Side, Side, float, float]:
    import jax.numpy as jnp
    import numpy as np
    import torch
    from pytorch_metric_learning import losses

    import jaxlosses as jl

    pairs, dim = 256, 128  # PML's [positive, negative pairs] mask: 68 GB at 2048 pairs
    base = rng.standard_normal((pairs, dim))
    e = np.concatenate([base, base + 0.5 * rng.standard_normal((pairs, dim))]).astype(np.float32)
    labels = np.concatenate([np.arange(pairs), np.arange(pairs)]).astype(np.int32)
    ours, compile_s = _jax_step(lambda e: jnp.mean(jl.ntxent(e, labels, 0.07)), (e,))
    pml = losses.NTXentLoss(temperature=0.07)
    te = torch.tensor(e, requires_grad=True)
    tl = torch.tensor(labels, dtype=torch.long)
    return ours, _torch_step(lambda: pml(te, tl), [te]), compile_s, float(ours()[0])


def _listmle(rng: Any) -> tuple[Side, Side, float, float]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import rax

    import jaxlosses as jl

    s = rng.standard_normal((1024, 200)).astype(np.float32)
    y = rng.integers(0, 5, (1024, 200)).astype(np.float32)  # graded relevance, many ties
    ours, compile_s = _jax_step(lambda s: jl.listmle_loss(s, y).mean(), (s,))
    js = jnp.asarray(s)
    step = jax.jit(jax.value_and_grad(lambda s: rax.listmle_loss(s, y))).lower(js).compile()
    return ours, (lambda: step(js)), compile_s, float(ours()[0])


def bench(rounds: int, budget: float, only: list[str] | None) -> list[dict[str, Any]]:
    import numpy as np

    rows = []
    for loss, what, peer, module, builder in CASES:
        if only and loss not in only:
            continue
        row: dict[str, Any] = {"loss": loss, "shape": what, "peer": peer}
        if importlib.util.find_spec(module) is None:
            row["not_run"] = f"`{module}` is not installed"
            rows.append(row)
            print(f"  {loss:42s} {row['not_run']}", flush=True)
            continue
        ours, theirs, row["jaxlosses_compile_s"], value = globals()[builder](
            np.random.default_rng(0)
        )
        row.update(time_pair({"jaxlosses": ours, "peer": theirs}, "peer", rounds, budget))
        peer_value = theirs()
        peer_value = float(peer_value if isinstance(peer_value, float) else peer_value[0])
        row["value_rel_diff"] = abs(value - peer_value) / max(abs(peer_value), 1e-30)
        rows.append(row)
        print_row(loss, what, row)
    return rows


def markdown(res: dict[str, Any]) -> str:
    lines = [
        f"# jaxlosses against its other peers, realistic shapes, on `{res['backend']}`",
        "",
        f"{res['date']}, {res['machine']}, jax {res['jax']}, torch {res['torch']}; "
        f"`python -m bench.peers{res['flags']}`. One training step's loss work: the value "
        "and the gradient w.r.t. every learned input, float32 (jaxlosses jitted; PyTorch "
        "eager forward + backward on CPU; Rax jitted). Median over alternating rounds of "
        "each round's median; the band is the lowest and highest round's ratio.",
        "",
        "| loss | inputs | peer | jaxlosses (ms) | peer (ms) | ratio | band | values differ by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in res["rows"]:
        if "not_run" in r:
            lines.append(f"| {r['loss']} | {r['shape']} | {r['peer']} | – | – | – | – | "
                         f"not run: {r['not_run']} |")  # fmt: skip
            continue
        lines.append(
            f"| {r['loss']} | {r['shape']} | {r['peer']} | {1e3 * r['jaxlosses_s']:.2f} | "
            f"{1e3 * r['peer_s']:.2f} | {r['ratio']:.2f} | {r['ratio_low']:.2f}-"
            f"{r['ratio_high']:.2f} | {r['value_rel_diff']:.1e} |"
        )
    lines += ["", slower_line(res["rows"], "the peer")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    a = arguments("python -m bench.peers", __doc__).parse_args(argv)
    import jax
    import torch

    backend = jax.default_backend()
    rows = bench(a.rounds, a.budget, a.loss)
    flags = "" if a.rounds == 5 and a.budget == 4.0 else f" --rounds {a.rounds} --budget {a.budget}"
    res = {
        "backend": backend,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, torch threads {torch.get_num_threads()}, "
        f"python {sys.version.split()[0]}",
        "jax": jax.__version__,
        "torch": torch.__version__,
        "flags": flags,
        "rows": rows,
    }
    if a.loss:
        print(markdown(res))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"peers_{backend}.json").write_text(json.dumps(res, indent=1) + "\n")
    (a.out / f"peers_{backend}.md").write_text(markdown(res))
    print(f"wrote {a.out / f'peers_{backend}.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
