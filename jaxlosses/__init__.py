"""jaxlosses: loss functions for JAX, each with a closed-form gradient and a proof.

Every loss is a pure function returning the unreduced per-example loss; reduce
with :func:`masked_mean`. ``jaxlosses.closed_form.NAME`` is the analytic gradient
of ``NAME``, ``jaxlosses.catalogue.CATALOGUE`` lists every loss with an
independent reference, and ``jaxlosses.verify.check`` (or
``python -m jaxlosses verify``) proves autodiff, the closed form and finite
differences agree.
"""

from . import closed_form as closed_form
from ._classification import binary_cross_entropy as binary_cross_entropy
from ._classification import categorical_cross_entropy as categorical_cross_entropy
from ._classification import negative_log_likelihood as negative_log_likelihood
from ._classification import safe_softmax_cross_entropy as safe_softmax_cross_entropy
from ._classification import sigmoid_binary_cross_entropy as sigmoid_binary_cross_entropy
from ._classification import smooth_labels as smooth_labels
from ._classification import softmax_cross_entropy as softmax_cross_entropy
from ._classification import (
    softmax_cross_entropy_with_integer_labels as softmax_cross_entropy_with_integer_labels,
)
from ._divergence import convex_kl_divergence as convex_kl_divergence
from ._divergence import generalized_kl_divergence as generalized_kl_divergence
from ._divergence import js_divergence as js_divergence
from ._divergence import kl_divergence as kl_divergence
from ._divergence import kl_divergence_with_log_targets as kl_divergence_with_log_targets
from ._likelihood import gaussian_kl_divergence as gaussian_kl_divergence
from ._likelihood import gaussian_nll as gaussian_nll
from ._likelihood import poisson_nll as poisson_nll
from ._primitives import linear as linear
from ._primitives import log_sigmoid as log_sigmoid
from ._primitives import log_softmax as log_softmax
from ._primitives import logsumexp as logsumexp
from ._primitives import sigmoid as sigmoid
from ._primitives import softmax as softmax
from ._primitives import softplus as softplus
from ._primitives import tanh as tanh
from ._reduction import masked_mean as masked_mean
from ._regression import absolute_error as absolute_error
from ._regression import cosine_distance as cosine_distance
from ._regression import cosine_similarity as cosine_similarity
from ._regression import huber_loss as huber_loss
from ._regression import l2_loss as l2_loss
from ._regression import log_cosh as log_cosh
from ._regression import smooth_l1_loss as smooth_l1_loss
from ._regression import squared_error as squared_error

# -- issue 3, flat margin losses, Fenchel-Young, CTC (re-exports from ._margin / ._ctc) --
# -- issue 3, linear-chain CRF and structured sequence losses (re-exports from ._structured) --
# -- issue 4, focal/poly, embeddings, contrastive, ranking, segmentation, GAN re-exports --

__version__ = "0.1.0.dev0"

#: Public names that are not losses (primitives, output layers and helpers); every
#: other public function must have a catalogue entry and a closed form.
NOT_LOSSES = frozenset(
    {
        "linear",
        "log_sigmoid",
        "log_softmax",
        "logsumexp",
        "masked_mean",
        "sigmoid",
        "smooth_labels",
        "softmax",
        "softplus",
        "tanh",
        # -- issue 3 non-loss helpers --
        # -- issue 4 non-loss helpers --
    }
)
