r"""Structured losses over label sequences, on a linear-chain CRF with exact inference.

A tag sequence :math:`y` of a sequence whose valid prefix has length :math:`L` scores

.. math::

    s(y) = \mathrm{start}_{y_0} + \sum_{t=0}^{L-1} E_{t, y_t}
        + \sum_{t=1}^{L-1} A_{y_{t-1}, y_t} + \mathrm{end}_{y_{L-1}}

with emissions :math:`E` ``[..., T, K]``, transitions :math:`A` ``[K, K]`` (``A[i, j]``
scores tag ``i`` followed by tag ``j``) and optional start/end scores ``[K]``. The
forward algorithm (log space, :func:`jax.lax.scan`) gives the log-partition
:math:`\log Z = \log \sum_y \exp s(y)`, forward-backward gives the marginals and Viterbi
the best path (all in :mod:`jaxlosses._crf`). The structured losses follow one family over
the output space,

.. math::

    \ell(y^\star) = -s(y^\star) + \operatorname*{agg}_y \big[s(y) + c\,\Delta(y^\star, y)\big]

with the Hamming cost :math:`\Delta` and ``agg`` a max (perceptron with :math:`c = 0`,
structured hinge) or a logsumexp (CRF with :math:`c = 0`, softmax-margin), plus the risk
:math:`\mathbb{E}_{p(y)}[c\,\Delta(y^\star, y)]`.

Each loss is followed by its closed-form gradient (``_<name>_grad``) of the *summed* loss
with respect to ``(emissions, transitions)``, derived by hand and re-exported as
:mod:`jaxlosses.closed_form`; none calls :func:`jax.grad`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from . import _crf as crf
from ._checks import crf_checks, register_checks
from ._core import closed_form_of, fill_docstrings

__all__ = [
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_loss",
    "structured_hinge_loss",
    "structured_perceptron_loss",
    "structured_risk_loss",
    "structured_softmax_margin_loss",
]


# --- the inputs of a loss over gold tags ------------------------------------------------

# Docstring parts shared by the losses over gold tags, filled in at the end of the module.
_TAGGED_ARGS = """emissions: ``[..., T, K]``.
      tags: gold integer tags ``[..., T]``; values at padded steps are ignored.
      transitions: ``[K, K]``, ``transitions[i, j]`` scores tag ``i`` -> tag ``j``.
      mask: optional boolean ``[..., T]`` valid prefix (see :func:`crf_log_partition`).
      start_transitions: optional ``[K]``.
      end_transitions: optional ``[K]``."""

_METHOD_ARG = """method: ``"auto"`` (default), ``"sequential"`` or ``"parallel"``: how
        ``log Z`` and its gradient are computed (a scan over time, or a log-depth
        associative scan of per-step matrices); see :func:`crf_log_partition`."""

_UNCHECKED = """Unchecked, a tag outside ``[0, K)`` (``tags`` is not range-checked, for speed)
    gives a NaN loss for its example; the other examples and the gradients stay
    finite. ``jaxlosses.checked({name})`` raises instead."""


class _Tagged(NamedTuple):
    """A loss's validated inputs: the chain, the gold tags and the Hamming cost weight."""

    ch: crf.Chain
    gold: jax.Array  # [T, N] gold tags (0 where out of range or padded)
    onehot: jax.Array  # [T, N, K] one-hot gold tags, 0 at padded steps
    ok: jax.Array  # [N] the sequence's gold tags are in [0, K) at every valid step
    c: jax.Array  # [N] the cost of one wrong tag (0 for the losses without `cost_weight`)

    def score(self, y: jax.Array, x: jax.Array | None = None) -> jax.Array:
        """``s(y)`` ``[N]`` of paths ``y`` ``[T, N]``, with emissions ``x`` if given."""
        return crf.path_score(*self.ch.scores(x), y)

    def augmented(self) -> jax.Array:
        """The emissions plus ``c`` at every valid (step, tag) off the gold path."""
        return crf.cost_augmented(self.ch, self.onehot, self.c)

    def per_sequence(self, v: jax.Array) -> jax.Array:
        """``v`` ``[N]`` in the batch shape and dtype; NaN for a sequence with a bad tag."""
        return crf.per_sequence(jnp.where(self.ok, v, jnp.nan), self.ch)


def _tagged(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    mask: ArrayLike | None,
    start_transitions: ArrayLike | None,
    end_transitions: ArrayLike | None,
    fn: str,
    cost_weight: ArrayLike = 0.0,
) -> _Tagged:
    """Validates the arguments of the loss ``fn`` (and of its closed form)."""
    ch = crf.chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    gold, onehot, ok = crf.gold(tags, ch, fn)
    return _Tagged(ch, gold, onehot, ok, crf.hamming_weight(cost_weight, ch, fn))


def _tagged_of(**arguments: Any) -> tuple[_Tagged]:
    """:func:`_tagged` as the parser of a closed form (which unpacks a tuple of inputs)."""
    return (_tagged(**arguments),)


def _tagged_method_of(*, method: str, fn: str, **arguments: Any) -> tuple[_Tagged, str]:
    """:func:`_tagged_of` plus the resolved ``method`` (``"sequential"`` or ``"parallel"``)."""
    t = _tagged(**arguments, fn=fn)
    return t, crf.resolve_method(method, t.ch, fn)


def _chain_method_of(*, method: str, fn: str, **arguments: Any) -> tuple[crf.Chain, str]:
    """:func:`crf.chain` and the resolved ``method``, as the parser of a closed form."""
    ch = crf.chain(**arguments, fn=fn)
    return ch, crf.resolve_method(method, ch, fn)


def _marginals_minus_gold(
    t: _Tagged, x: jax.Array, method: str = "sequential"
) -> tuple[jax.Array, jax.Array]:
    """Gradient of ``log Z(x) - s(gold)``: ``(node - one-hot, expected - observed counts)``.

    Under emissions ``x`` (the chain's or cost-augmented), time-major; 0 for a sequence with
    a bad tag. ``method``: the resolved forward-backward method.
    """
    node, pair, _ = crf.forward_backward(*t.ch.scores(x), method=method)
    w = t.ok.astype(t.ch.x.dtype)
    g_e = (node - t.onehot) * w[None, :, None]
    return g_e, jnp.einsum("tnij,n->ij", pair, w) - crf.counts(t.onehot * w[None, :, None])


def _best_path(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """``(cost-augmented emissions, the path [T, N] maximising s(y) + c * Hamming(gold, y))``."""
    augmented = t.augmented()
    return augmented, crf.viterbi(*t.ch.scores(augmented))


def _best_minus_gold(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """``(one-hot best path - one-hot gold, their transition count difference)``.

    The best path maximises ``s(y) + c * Hamming(gold, y)`` (see :func:`_best_path`).
    """
    _, path = _best_path(t)
    ch = t.ch
    w = t.ok.astype(ch.x.dtype)[None, :, None]
    k = ch.x.shape[-1]
    diff = (jax.nn.one_hot(path, k, dtype=ch.x.dtype) * ch.m[:, :, None] - t.onehot) * w
    best = jax.nn.one_hot(path, k, dtype=ch.x.dtype) * ch.m[:, :, None] * w
    return crf.grads_out(diff, crf.counts(best) - crf.counts(t.onehot * w), ch)


# --- log-partition and likelihood -------------------------------------------------------


def crf_log_partition(
    emissions: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    method: str = "auto",
) -> jax.Array:
    r"""Log-partition function of a linear-chain CRF, by the forward algorithm.

    .. math:: \log Z = \log \sum_{y \in [K]^L} \exp s(y)

    with :math:`s(y)` the path score of the module docstring (emissions, transitions,
    start and end scores over the valid prefix of length :math:`L`).

    Args:
      emissions: per-step tag scores ``[..., T, K]``.
      transitions: ``[K, K]``; ``transitions[i, j]`` scores tag ``i`` followed by tag ``j``.
        ``-inf`` forbids a transition (some path must stay possible).
      mask: optional boolean ``[..., T]``, True on each sequence's valid prefix; the first
        step is always valid. Padded steps do not contribute.
      start_transitions: optional ``[K]`` scores of the first tag.
      end_transitions: optional ``[K]`` scores of the last valid tag.
      method: how to run the forward algorithm. ``"sequential"``: a :func:`jax.lax.scan`
        over time (depth ``T``, ``O(T K^2)`` work, ``[T, N, K]`` memory). ``"parallel"``:
        the product of the ``T - 1`` per-step ``[K, K]`` log-semiring matrices by a balanced
        tree, its gradient from prefix and suffix products by
        :func:`jax.lax.associative_scan` (depth ``log T``, ``O(T K^3)`` work,
        ``[T, N, K, K]`` memory); the same values and gradients, for accelerators, where
        depth rather than work bounds the time. ``"auto"`` (default): ``"sequential"`` on
        CPU (where ``"parallel"`` never won in ``bench/crf_parallel.py``); elsewhere
        ``"parallel"`` when ``T >= 64`` and ``T * N * K * K <= 2 ** 27`` (``N`` the number of
        sequences), else ``"sequential"``.

    Returns:
      ``log Z`` per sequence, shape ``emissions.shape[:-2]``, dtype of ``emissions``. Its
      gradient is given by :func:`crf_marginals` (node marginals for the emissions, summed
      pairwise marginals for the transitions).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> # 2 steps, 2 tags, all scores 0: log(2 ** 2) = 1.3863
      >>> round(float(jl.crf_log_partition(jnp.zeros((2, 2)), jnp.zeros((2, 2)))), 4)
      1.3863

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
      Rabiner, `A tutorial on hidden Markov models
      <https://doi.org/10.1109/5.18626>`_, Proc. IEEE 1989.
    """
    fn = "crf_log_partition"
    ch = crf.chain(emissions, transitions, mask, start_transitions, end_transitions, fn)
    log_z = crf.log_partition(*ch.scores(), method=crf.resolve_method(method, ch, fn))
    return crf.per_sequence(log_z, ch)


@closed_form_of(crf_log_partition, _chain_method_of)
def _crf_log_partition_grad(ch: crf.Chain, method: str) -> tuple[jax.Array, jax.Array]:
    """``(node marginals, pairwise marginals summed over sequences and steps)``."""
    node, pair, _ = crf.forward_backward(*ch.scores(), method=method)
    return crf.grads_out(node, jnp.sum(pair, axis=(0, 1)), ch)


def _gold_and_log_z(t: _Tagged, method: str, fn: str) -> tuple[jax.Array, jax.Array]:
    """The gold paths' scores and ``log Z`` of a validated chain (before ``per_sequence``)."""
    log_z = crf.log_partition(*t.ch.scores(), method=crf.resolve_method(method, t.ch, fn))
    return t.score(t.gold), log_z


def crf_log_likelihood(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    method: str = "auto",
) -> jax.Array:
    r"""Log-likelihood of gold tag sequences under a linear-chain CRF.

    .. math:: \log p(y^\star) = s(y^\star) - \log Z

    {unchecked}

    Args:
      {tagged_args}
      {method_arg}

    Returns:
      Per-sequence log-likelihood, shape ``emissions.shape[:-2]``, dtype of ``emissions``.
      Unchecked behaviour: a tag outside ``[0, K)`` at a valid step gives NaN for that
      sequence (and a zero gradient).

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> # all 4 paths score 0, so each has probability 1/4: log(1/4) = -1.3863
      >>> ll = jl.crf_log_likelihood(jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.zeros((2, 2)))
      >>> round(float(ll), 4)
      -1.3863

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
    """
    fn = "crf_log_likelihood"
    t = _tagged(emissions, tags, transitions, mask, start_transitions, end_transitions, fn)
    gold, log_z = _gold_and_log_z(t, method, fn)
    return t.per_sequence(gold - log_z)


@closed_form_of(crf_log_likelihood, _tagged_method_of)
def _crf_log_likelihood_grad(t: _Tagged, method: str) -> tuple[jax.Array, jax.Array]:
    """``(one-hot gold - node marginals, observed - expected transition counts)``."""
    g_e, g_a = _marginals_minus_gold(t, t.ch.x, method)
    return crf.grads_out(-g_e, -g_a, t.ch)


def crf_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    method: str = "auto",
) -> jax.Array:
    r"""Negative log-likelihood of a linear-chain CRF (the per-sequence CRF loss).

    .. math:: \ell(E, y^\star) = \log Z - s(y^\star)
        = -s(y^\star) + \log \sum_y \exp s(y)

    The sequence analogue of softmax cross-entropy with integer labels; as
    ``torchcrf.CRF(...)(emissions, tags, mask, reduction='none')`` negated, with
    ``batch_first=True``.

    {unchecked}

    Args:
      {tagged_args}
      {method_arg}

    Returns:
      Per-sequence loss, shape ``emissions.shape[:-2]``, dtype of ``emissions``; NaN for a
      sequence with a tag outside ``[0, K)`` at a valid step. The closed-form gradient is
      ``(node marginals - one-hot tags, expected - observed transition counts)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths 00, 01, 10, 11 score 1, 2, 0, 1; gold [0, 1]: log(e + e^2 + 1 + e) - 2
      >>> round(float(jl.crf_loss(emissions, jnp.array([0, 1]), jnp.zeros((2, 2)))), 4)
      0.6265

    References:
      Lafferty, McCallum and Pereira, Conditional Random Fields: Probabilistic Models for
      Segmenting and Labeling Sequence Data, ICML 2001.
    """
    fn = "crf_loss"
    t = _tagged(emissions, tags, transitions, mask, start_transitions, end_transitions, fn)
    gold, log_z = _gold_and_log_z(t, method, fn)
    return t.per_sequence(log_z - gold)


@closed_form_of(crf_loss, _tagged_method_of)
def _crf_loss_grad(t: _Tagged, method: str) -> tuple[jax.Array, jax.Array]:
    """``(node marginals - one-hot tags, expected - observed transition counts)``.

    Sequences with an out-of-range tag get a zero gradient.
    """
    return crf.grads_out(*_marginals_minus_gold(t, t.ch.x, method), t.ch)


# --- structured losses -----------------------------------------------------------------


def structured_perceptron_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
) -> jax.Array:
    r"""Structured perceptron loss: best path score minus gold path score.

    .. math:: \ell(E, y^\star) = \max_y s(y) - s(y^\star)

    Zero exactly when the gold sequence is a Viterbi path; its subgradient is the
    perceptron update (features of the Viterbi path minus features of the gold path).

    {unchecked}

    Args:
      {tagged_args}

    Returns:
      Per-sequence loss ``>= 0``, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # best path [0, 1] scores 2, gold [0, 0] scores 1
      >>> float(jl.structured_perceptron_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2))))
      1.0

    References:
      Collins, `Discriminative training methods for hidden Markov models
      <https://aclanthology.org/W02-1001/>`_, EMNLP 2002.
    """
    fn = "structured_perceptron_loss"
    t = _tagged(emissions, tags, transitions, mask, start_transitions, end_transitions, fn)
    _, path = _best_path(t)
    return t.per_sequence(t.score(path) - t.score(t.gold))


@closed_form_of(structured_perceptron_loss, _tagged_of)
def _structured_perceptron_loss_grad(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """``(one-hot Viterbi path - one-hot gold, Viterbi - gold transition counts)``."""
    return _best_minus_gold(t)


def structured_hinge_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Structured hinge (max-margin) loss with Hamming cost, by loss-augmented Viterbi.

    .. math:: \ell(E, y^\star) = \max_y \big[s(y) + c\,\Delta(y^\star, y)\big] - s(y^\star),
        \qquad \Delta(y^\star, y) = \sum_{t < L} [y_t \neq y^\star_t]

    The Hamming cost decomposes over steps, so the max is a Viterbi pass over the emissions
    plus ``c`` on every non-gold tag. ``cost_weight=0`` gives
    :func:`structured_perceptron_loss`.

    {unchecked}

    Args:
      {tagged_args}
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence loss ``>= 0``, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths [0, 1] and [1, 1]: score + wrong tags = 3; gold [0, 0] scores 1
      >>> float(jl.structured_hinge_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2))))
      2.0

    References:
      Taskar, Guestrin and Koller, Max-margin Markov networks, NeurIPS 2003.
      Tsochantaridis, Joachims, Hofmann and Altun, `Large margin methods for structured and
      interdependent output variables <https://www.jmlr.org/papers/v6/tsochantaridis05a.html>`_,
      JMLR 2005.
    """
    fn = "structured_hinge_loss"
    t = _tagged(
        emissions, tags, transitions, mask, start_transitions, end_transitions, fn, cost_weight
    )
    augmented, path = _best_path(t)
    return t.per_sequence(t.score(path, augmented) - t.score(t.gold))


@closed_form_of(structured_hinge_loss, _tagged_of)
def _structured_hinge_loss_grad(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """``(one-hot loss-augmented path - one-hot gold, their transition count difference)``."""
    return _best_minus_gold(t)


def structured_softmax_margin_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Softmax-margin loss with Hamming cost, by the cost-augmented forward algorithm.

    .. math:: \ell(E, y^\star) = \log \sum_y \exp\big[s(y) + c\,\Delta(y^\star, y)\big]
        - s(y^\star)

    A smooth upper bound of :func:`structured_hinge_loss`; ``cost_weight=0`` gives
    :func:`crf_loss`. Its gradient is the marginals of the cost-augmented CRF minus the gold
    features.

    {unchecked}

    Args:
      {tagged_args}
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence loss, shape ``emissions.shape[:-2]``, dtype of ``emissions``; NaN for a
      sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> emissions = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> # paths 00, 01, 10, 11: score + wrong tags = 1, 3, 1, 3; gold [0, 0] scores 1
      >>> loss = jl.structured_softmax_margin_loss(emissions, jnp.array([0, 0]), jnp.zeros((2, 2)))
      >>> round(float(loss), 4)  # log(2e + 2e^3) - 1
      2.8201

    References:
      Gimpel and Smith, `Softmax-margin CRFs: training log-linear models with cost functions
      <https://aclanthology.org/N10-1112/>`_, NAACL 2010.
    """
    fn = "structured_softmax_margin_loss"
    t = _tagged(
        emissions, tags, transitions, mask, start_transitions, end_transitions, fn, cost_weight
    )
    _, log_z = crf.forward(*t.ch.scores(t.augmented()))
    return t.per_sequence(log_z - t.score(t.gold))


@closed_form_of(structured_softmax_margin_loss, _tagged_of)
def _structured_softmax_margin_loss_grad(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """Cost-augmented ``(node marginals - one-hot gold, expected - observed counts)``."""
    return crf.grads_out(*_marginals_minus_gold(t, t.augmented()), t.ch)


def structured_risk_loss(
    emissions: ArrayLike,
    tags: ArrayLike,
    transitions: ArrayLike,
    *,
    mask: ArrayLike | None = None,
    start_transitions: ArrayLike | None = None,
    end_transitions: ArrayLike | None = None,
    cost_weight: ArrayLike = 1.0,
) -> jax.Array:
    r"""Risk: the expected Hamming cost under the CRF distribution, from the node marginals.

    .. math:: \ell(E, y^\star) = \mathbb{E}_{p(y)}\big[c\,\Delta(y^\star, y)\big]
        = c \sum_{t < L} \big(1 - p_t(y^\star_t)\big)

    Bounded in ``[0, c L]`` and non-convex; its gradient is the covariance of the cost with
    the features, :math:`\operatorname{Cov}_p(c\,\Delta, \phi)`, computed in closed form by a
    first-order expectation-semiring forward-backward pass.

    {unchecked}

    Args:
      {tagged_args}
      cost_weight: ``c``, the cost of one wrong tag: a scalar or one per sequence ``[...]``.

    Returns:
      Per-sequence expected cost, shape ``emissions.shape[:-2]``, dtype of ``emissions``;
      NaN for a sequence with a tag outside ``[0, K)`` at a valid step.

    Example:
      >>> import jax.numpy as jnp
      >>> import jaxlosses as jl
      >>> # uniform over 2 tags: each of the 2 steps is wrong with probability 1/2
      >>> float(jl.structured_risk_loss(jnp.zeros((2, 2)), jnp.array([0, 1]), jnp.zeros((2, 2))))
      1.0

    References:
      Smith and Eisner, `Minimum risk annealing for training log-linear models
      <https://aclanthology.org/P06-2101/>`_, COLING/ACL 2006.
      Li and Eisner, `First- and second-order expectation semirings with applications to
      minimum-risk training on translation forests <https://aclanthology.org/D09-1005/>`_,
      EMNLP 2009.
    """
    fn = "structured_risk_loss"
    t = _tagged(
        emissions, tags, transitions, mask, start_transitions, end_transitions, fn, cost_weight
    )
    node, _, _ = crf.forward_backward(*t.ch.scores())
    wrong = jnp.sum(t.ch.m, axis=0) - jnp.sum(node * t.onehot, axis=(0, 2))
    return t.per_sequence(t.c * wrong)


@closed_form_of(structured_risk_loss, _tagged_of)
def _structured_risk_loss_grad(t: _Tagged) -> tuple[jax.Array, jax.Array]:
    """``Cov_p(cost, features)`` by the expectation-semiring recursions above."""
    ch = t.ch
    c = t.c * t.ok.astype(ch.x.dtype)
    h = c[None, :, None] * (ch.m[:, :, None] - t.onehot)
    _, g_e, g_a = crf.expected_cost_grads(*ch.scores(), h)
    return crf.grads_out(g_e, g_a, ch)


fill_docstrings(
    crf_log_likelihood,
    crf_loss,
    structured_perceptron_loss,
    structured_hinge_loss,
    structured_softmax_margin_loss,
    structured_risk_loss,
    tagged_args=_TAGGED_ARGS,
    method_arg=_METHOD_ARG,
    unchecked=_UNCHECKED,
)


# --- run-time value checks (jaxlosses.checked) ---------------------------------------

register_checks(crf_log_partition, *crf_checks(tags=False))
register_checks(crf_log_likelihood, *crf_checks())
register_checks(crf_loss, *crf_checks())
register_checks(structured_perceptron_loss, *crf_checks())
register_checks(structured_hinge_loss, *crf_checks())
register_checks(structured_softmax_margin_loss, *crf_checks())
register_checks(structured_risk_loss, *crf_checks())
