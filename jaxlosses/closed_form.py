"""Closed-form gradients, one per loss, by the loss's own name and arguments.

``jaxlosses.closed_form.NAME(*args, **kwargs)`` returns the analytic gradient of
``jaxlosses.NAME(*args, **kwargs).sum()`` with respect to the first argument (the
prediction), or a tuple in argument order where a loss has several learned inputs
(``gaussian_nll``: means, variances; ``gaussian_kl_divergence``: means,
log-variances). Each is derived by hand and written next to its loss; none calls
:func:`jax.grad`. ``python -m jaxlosses verify`` proves they equal autodiff.

Example:
  >>> import jaxlosses as jl
  >>> logits, labels = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])
  >>> jl.closed_form.softmax_cross_entropy(logits, labels).tolist()  # softmax - labels
  [-0.5, 0.5]
"""

from ._classification import _binary_cross_entropy_grad as binary_cross_entropy
from ._classification import _categorical_cross_entropy_grad as categorical_cross_entropy
from ._classification import _negative_log_likelihood_grad as negative_log_likelihood
from ._classification import _sigmoid_binary_cross_entropy_grad as sigmoid_binary_cross_entropy
from ._classification import _softmax_cross_entropy_grad as safe_softmax_cross_entropy
from ._classification import _softmax_cross_entropy_grad as softmax_cross_entropy
from ._classification import (
    _softmax_cross_entropy_with_integer_labels_grad as softmax_cross_entropy_with_integer_labels,
)
from ._divergence import _convex_kl_divergence_grad as convex_kl_divergence
from ._divergence import _generalized_kl_divergence_grad as generalized_kl_divergence
from ._divergence import _js_divergence_grad as js_divergence
from ._divergence import _kl_divergence_grad as kl_divergence
from ._divergence import _kl_divergence_with_log_targets_grad as kl_divergence_with_log_targets
from ._likelihood import _gaussian_kl_divergence_grad as gaussian_kl_divergence
from ._likelihood import _gaussian_nll_grad as gaussian_nll
from ._likelihood import _poisson_nll_grad as poisson_nll
from ._regression import _absolute_error_grad as absolute_error
from ._regression import _cosine_distance_grad as cosine_distance
from ._regression import _cosine_similarity_grad as cosine_similarity
from ._regression import _huber_loss_grad as huber_loss
from ._regression import _l2_loss_grad as l2_loss
from ._regression import _log_cosh_grad as log_cosh
from ._regression import _smooth_l1_loss_grad as smooth_l1_loss
from ._regression import _squared_error_grad as squared_error

# -- issue 3, flat margin losses, Fenchel-Young, CTC --
# -- issue 3, linear-chain CRF and structured sequence losses --
# -- issue 4, focal/poly, embeddings, contrastive, ranking, segmentation, GAN --

__all__ = [
    "absolute_error",
    "binary_cross_entropy",
    "categorical_cross_entropy",
    "convex_kl_divergence",
    "cosine_distance",
    "cosine_similarity",
    "gaussian_kl_divergence",
    "gaussian_nll",
    "generalized_kl_divergence",
    "huber_loss",
    "js_divergence",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "l2_loss",
    "log_cosh",
    "negative_log_likelihood",
    "poisson_nll",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "smooth_l1_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "squared_error",
]
