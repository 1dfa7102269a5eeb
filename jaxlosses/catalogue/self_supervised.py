"""Proof records of the self-supervised losses (:mod:`jaxlosses._self_supervised`).

The references are written from the papers' pseudo-code in NumPy. lightly's modules
(``lightly.loss``) are the peers; lightly's package import needs torchvision, so
``tests/test_self_supervised_conformance.py`` loads its loss files by path and compares
values and gradients there (its modules take the two views and return the batch mean).
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._entry import NONNEG, SHIFT, Case, Entry, Peer
from ._shared import B, K, normal

FAMILY = "self-supervised"

_TEST = "tests/test_self_supervised_conformance.py"
_LIGHTLY_NOTE = "a module returning the batch mean; loaded by file (its package needs torchvision)"


# --- negative cosine similarity ------------------------------------------------------------


def _ref_negative_cosine(p, z, *, epsilon=0.0, axis=-1, where=None):
    p, z = np.moveaxis(p, axis, -1), np.moveaxis(z, axis, -1)
    if where is not None:
        keep = np.moveaxis(np.asarray(where, bool), axis, -1)
        p, z = np.where(keep, p, 0.0), np.where(keep, z, 0.0)
    dot = np.einsum("...d,...d->...", p, z)
    norms = np.sqrt(np.maximum(np.sum(p * p, -1), epsilon) * np.maximum(np.sum(z * z, -1), epsilon))
    return -dot / norms


def _sample_negative_cosine(rng: np.random.Generator) -> list[Case]:
    p = normal(rng, 4, 6)
    z = p + normal(rng, 4, 6)
    keep = rng.uniform(size=(4, 6)) < 0.7
    keep[:, 0] = True
    return [
        Case("predictions, targets", (p, z)),
        Case("feature mask", (p, z), {"where": keep}, 0, {"where": 0}),
        Case("axis=0", (p.T.copy(), z.T.copy()), {"axis": 0}, (1, 1)),
        Case("epsilon floor active", (0.1 * p, z), {"epsilon": 1.0}),
    ]


def _stress_negative_cosine() -> list[Case]:
    p = np.array([[0.0] * 5, [1e4, -1e4, 0.0, 1.0, 2.0], [1e-20, 0.0, 0.0, 0.0, 0.0]], np.float32)
    z = np.array([[1.0] * 5, [0.0] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]], np.float32)
    return [Case("zero-norm, tiny and huge vectors", (p, z))]


# --- Barlow Twins ---------------------------------------------------------------------------


def _ref_batch_norm(z, eps):
    return (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + eps)  # np.var: biased (ddof=0)


def _ref_barlow(z_a, z_b, *, lambda_=5e-3, eps=1e-5):
    c = _ref_batch_norm(z_a, eps).T @ _ref_batch_norm(z_b, eps) / len(z_a)
    on = sum((1.0 - c[i, i]) ** 2 for i in range(len(c)))
    off = sum(c[i, j] ** 2 for i in range(len(c)) for j in range(len(c)) if i != j)
    return np.asarray(on + lambda_ * off)


def _views(rng: np.random.Generator, batch: int = 6, dim: int = 4) -> tuple[np.ndarray, ...]:
    z_a = normal(rng, batch, dim) * np.array([0.5, 2.0, 0.4, 3.0])[:dim]
    return z_a, z_a + 0.5 * normal(rng, batch, dim)


def _sample_barlow(rng: np.random.Generator) -> list[Case]:
    z_a, z_b = _views(rng)
    return [
        Case("two views", (z_a, z_b), in_axes=None),
        Case("lambda_=0.1, eps=0", (z_a, z_b), {"lambda_": 0.1, "eps": 0.0}, in_axes=None),
        Case("more features than examples", _views(rng, 3, 4), {"lambda_": 0.5}, in_axes=None),
    ]


def _stress_views() -> tuple[np.ndarray, np.ndarray]:
    z_a = np.array(
        [
            [1e4, 1.0, 0.0, 2.0],
            [-1e4, 1.0, 1e-3, 2.0],
            [3e3, 1.0, -1e-3, 2.0],
            [0.0, 1.0, 0.0, 2.0],
        ],
        np.float32,
    )  # a huge feature, two constant ones (zero variance) and a tiny one
    return z_a, z_a[::-1].copy()


def _stress_barlow() -> list[Case]:
    z_a, z_b = _stress_views()
    return [
        Case("huge, constant and tiny features", (z_a, z_b), in_axes=None),
        Case("identical views, lambda_=1", (z_a, z_a.copy()), {"lambda_": 1.0}, in_axes=None),
        Case("one example", (z_a[:1], z_b[:1]), in_axes=None),
    ]


# --- VICReg ---------------------------------------------------------------------------------


def _ref_vicreg(z_a, z_b, *, lambda_=25.0, mu=25.0, nu=1.0, eps=1e-4):
    n, d = z_a.shape

    def std_hinge(z):  # the paper's v(Z): hinge on the regularised std, gamma = 1
        return np.mean([max(0.0, 1.0 - np.sqrt(np.var(z[:, j], ddof=1) + eps)) for j in range(d)])

    def off_diagonal(z):  # the paper's c(Z): squared off-diagonal covariance over d
        cov = np.cov(z, rowvar=False)  # unbiased, N - 1
        return sum(cov[j, k] ** 2 for j in range(d) for k in range(d) if j != k) / d

    invariance = np.sum((z_a - z_b) ** 2) / (n * d)
    variance = (std_hinge(z_a) + std_hinge(z_b)) / 2
    return np.asarray(
        lambda_ * invariance + mu * variance + nu * (off_diagonal(z_a) + off_diagonal(z_b))
    )


def _with_stds(z: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """``z`` with each feature rescaled to the given (unbiased) std over the batch: the
    hinge's kink at std 1 stays well away from every sampled point."""
    c = z - z.mean(axis=0)
    return z.mean(axis=0) + c / c.std(axis=0, ddof=1) * stds[: z.shape[1]]


def _vicreg_views(rng: np.random.Generator, batch: int = 6, dim: int = 4) -> tuple[np.ndarray, ...]:
    z_a = normal(rng, batch, dim)
    z_b = z_a + 0.5 * normal(rng, batch, dim)
    return (_with_stds(z_a, np.array([0.5, 2.0, 0.4, 3.0])),
            _with_stds(z_b, np.array([0.6, 1.7, 2.5, 0.3])))  # fmt: skip


def _sample_vicreg(rng: np.random.Generator) -> list[Case]:
    z_a, z_b = _vicreg_views(rng)
    return [
        Case("two views", (z_a, z_b), in_axes=None),
        Case("lambda_=2, mu=3, nu=0.5, eps=0.01", (z_a, z_b),
             {"lambda_": 2.0, "mu": 3.0, "nu": 0.5, "eps": 0.01}, in_axes=None),
        Case("more features than examples", _vicreg_views(rng, 3, 4), in_axes=None),
    ]  # fmt: skip


def _stress_vicreg() -> list[Case]:
    z_a, z_b = _stress_views()
    return [
        Case("huge, constant and tiny features", (z_a, z_b), in_axes=None),
        Case("identical views", (z_a, z_a.copy()), in_axes=None),
        Case("two examples", (z_a[:2], z_b[:2]), in_axes=None),
    ]


# --- DINO -----------------------------------------------------------------------------------


def _ref_dino(student, teacher, center, *, student_temp=0.1, teacher_temp=0.04):
    """The paper's H(P_t, P_s) averaged over the (global teacher view, other student view)
    pairs, written as its pseudo-code's double loop."""
    q = special.softmax((teacher - center) / teacher_temp, axis=-1)
    log_p = special.log_softmax(student / student_temp, axis=-1)
    terms = [
        -np.sum(q[..., i, :] * log_p[..., j, :], axis=-1)
        for i in range(teacher.shape[-2])
        for j in range(student.shape[-2])
        if i != j
    ]
    return np.mean(terms, axis=0)


def _dino_views(rng: np.random.Generator, n_global: int, n_views: int, dim: int = K):
    teacher = normal(rng, B, n_global, dim, scale=0.05)  # / 0.04: logits of order 1
    student = 0.3 * normal(rng, B, n_views, dim)
    student[:, :n_global] += 2.0 * teacher  # the global crops agree with the teacher a bit
    return student, teacher, normal(rng, dim, scale=0.02)


def _sample_dino(rng: np.random.Generator) -> list[Case]:
    axes = (0, 0, None)  # the centre is shared by the batch
    return [
        Case("2 global + 2 local views", _dino_views(rng, 2, 4), in_axes=axes),
        Case("global views only", _dino_views(rng, 2, 2), in_axes=axes),
        Case("student_temp=0.5, teacher_temp=0.07", _dino_views(rng, 2, 5),
             {"student_temp": 0.5, "teacher_temp": 0.07}, in_axes=axes),
        Case("one teacher view", _dino_views(rng, 1, 3), in_axes=axes),
    ]  # fmt: skip


def _stress_dino() -> list[Case]:
    student = np.zeros((2, 3, 4), np.float32)
    student[0] = [[1e4, -1e4, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0], [-1e4, 1e4, 1e4, 0.0]]
    student[1] = 1e-20
    teacher = np.zeros((2, 2, 4), np.float32)
    teacher[0] = [[1e4, 0.0, -1e4, 5.0], [0.0, 1e4, 1e4, 0.0]]  # / 0.04: 2.5e5
    center = np.array([1e3, -1e3, 0.0, 1e-3], np.float32)
    return [
        Case("logits of 1e4 and 0, a huge centre", (student, teacher, center), in_axes=(0, 0, None)),
        Case("a tie at the teacher's top, no centre", (student, teacher, np.zeros(4, np.float32)),
             in_axes=(0, 0, None)),
    ]  # fmt: skip


ENTRIES: list[Entry] = [
    Entry(name="negative_cosine_similarity", reference=_ref_negative_cosine,
          sample=_sample_negative_cosine, stress=_stress_negative_cosine, class_args=(0, 1),
          where_slices=True, free_args=(0, 1),
          peers=(Peer("lightly.loss.negative_cosine_similarity.NegativeCosineSimilarity",
                      note=_LIGHTLY_NOTE, tested_by=f"{_TEST}::test_negative_cosine_similarity"),)),
    Entry(name="barlow_twins_loss", reference=_ref_barlow, sample=_sample_barlow,
          stress=_stress_barlow, argnums=(0, 1), free_args=(0, 1),
          properties=frozenset({NONNEG, SHIFT}),
          peers=(Peer("lightly.loss.barlow_twins_loss.BarlowTwinsLoss",
                      note="a module; lambda_param is lambda_, batch norm's eps 1e-5",
                      tested_by=f"{_TEST}::test_barlow_twins_loss"),)),
    Entry(name="vicreg_loss", reference=_ref_vicreg, sample=_sample_vicreg,
          stress=_stress_vicreg, argnums=(0, 1), smooth=False, free_args=(0, 1),
          properties=frozenset({NONNEG}),
          peers=(Peer("lightly.loss.vicreg_loss.VICRegLoss",
                      note="a module; lambda_param, mu_param, nu_param are lambda_, mu, nu",
                      tested_by=f"{_TEST}::test_vicreg_loss"),)),
    Entry(name="dino_loss", reference=_ref_dino, sample=_sample_dino, stress=_stress_dino,
          argnums=(0, 1), free_args=(0, 1, 2), properties=frozenset({NONNEG, SHIFT}),
          peers=(Peer("lightly.loss.dino_loss.DINOLoss",
                      note="a stateful module taking (teacher, student) lists of views; "
                           "the batch mean",
                      tested_by=f"{_TEST}::test_dino_loss"),)),
]  # fmt: skip
