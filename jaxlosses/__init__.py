"""jaxlosses: loss functions for JAX, each with a closed-form gradient and a proof.

Every loss is a pure function returning the unreduced per-example loss; reduce
with :func:`masked_mean`. ``jaxlosses.closed_form.NAME`` is the analytic gradient
of ``NAME``, ``jaxlosses.catalogue.CATALOGUE`` lists every loss with an
independent reference, and ``jaxlosses.verify.check`` (or
``python -m jaxlosses verify``) proves autodiff, the closed form and finite
differences agree.
"""

from . import closed_form as closed_form
from . import parallel as parallel
from ._checked import checked as checked
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
from ._contrastive import clip_loss as clip_loss
from ._contrastive import info_nce_loss as info_nce_loss
from ._contrastive import multiple_negatives_ranking_loss as multiple_negatives_ranking_loss
from ._contrastive import ntxent as ntxent
from ._contrastive import siglip_loss as siglip_loss
from ._contrastive import supervised_contrastive_loss as supervised_contrastive_loss
from ._crf import crf_decode as crf_decode
from ._crf import crf_marginals as crf_marginals
from ._ctc import ctc_loss as ctc_loss
from ._ctc import ctc_loss_with_forward_probs as ctc_loss_with_forward_probs
from ._distillation import jsd_distillation_loss as jsd_distillation_loss
from ._distillation import kl_distillation_loss as kl_distillation_loss
from ._divergence import convex_kl_divergence as convex_kl_divergence
from ._divergence import generalized_kl_divergence as generalized_kl_divergence
from ._divergence import js_divergence as js_divergence
from ._divergence import kl_divergence as kl_divergence
from ._divergence import kl_divergence_with_log_targets as kl_divergence_with_log_targets
from ._embedding import angle_loss as angle_loss
from ._embedding import arcface_loss as arcface_loss
from ._embedding import batch_all_triplet_loss as batch_all_triplet_loss
from ._embedding import batch_hard_triplet_loss as batch_hard_triplet_loss
from ._embedding import batch_semi_hard_triplet_loss as batch_semi_hard_triplet_loss
from ._embedding import circle_loss as circle_loss
from ._embedding import contrastive_loss as contrastive_loss
from ._embedding import cosent_loss as cosent_loss
from ._embedding import cosface_loss as cosface_loss
from ._embedding import cosine_embedding_loss as cosine_embedding_loss
from ._embedding import ge2e_loss as ge2e_loss
from ._embedding import hinge_embedding_loss as hinge_embedding_loss
from ._embedding import multi_similarity_loss as multi_similarity_loss
from ._embedding import sub_center_arcface_loss as sub_center_arcface_loss
from ._embedding import triplet_margin_loss as triplet_margin_loss
from ._fenchel_young import make_fenchel_young_loss as make_fenchel_young_loss
from ._fenchel_young import multiclass_sparsemax_loss as multiclass_sparsemax_loss
from ._fenchel_young import sparsemax_loss as sparsemax_loss
from ._focal import asymmetric_loss as asymmetric_loss
from ._focal import poly_loss_cross_entropy as poly_loss_cross_entropy
from ._focal import sigmoid_focal_loss as sigmoid_focal_loss
from ._focal import softmax_focal_loss as softmax_focal_loss
from ._fused import linear_softmax_cross_entropy as linear_softmax_cross_entropy
from ._fused_distillation import linear_jsd_distillation_loss as linear_jsd_distillation_loss
from ._fused_distillation import linear_kl_distillation_loss as linear_kl_distillation_loss
from ._gan import gan_discriminator_loss as gan_discriminator_loss
from ._gan import gan_generator_loss as gan_generator_loss
from ._likelihood import gaussian_kl_divergence as gaussian_kl_divergence
from ._likelihood import gaussian_nll as gaussian_nll
from ._likelihood import poisson_nll as poisson_nll
from ._margin import cost_augmented_hinge_loss as cost_augmented_hinge_loss
from ._margin import hinge_loss as hinge_loss
from ._margin import multi_margin_loss as multi_margin_loss
from ._margin import multiclass_hinge_loss as multiclass_hinge_loss
from ._margin import multiclass_perceptron_loss as multiclass_perceptron_loss
from ._margin import multilabel_margin_loss as multilabel_margin_loss
from ._margin import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from ._margin import perceptron_loss as perceptron_loss
from ._margin import risk_loss as risk_loss
from ._margin import soft_margin_loss as soft_margin_loss
from ._margin import softmax_margin_loss as softmax_margin_loss
from ._margin import squared_hinge_loss as squared_hinge_loss
from ._preference import dpo_loss as dpo_loss
from ._preference import ipo_loss as ipo_loss
from ._preference import kto_loss as kto_loss
from ._preference import linear_sequence_log_probs as linear_sequence_log_probs
from ._preference import orpo_loss as orpo_loss
from ._preference import preference_hinge_loss as preference_hinge_loss
from ._preference import preference_rewards as preference_rewards
from ._preference import robust_dpo_loss as robust_dpo_loss
from ._preference import sequence_log_probs as sequence_log_probs
from ._preference import simpo_loss as simpo_loss
from ._primitives import linear as linear
from ._primitives import log_sigmoid as log_sigmoid
from ._primitives import log_softmax as log_softmax
from ._primitives import logsumexp as logsumexp
from ._primitives import sigmoid as sigmoid
from ._primitives import softmax as softmax
from ._primitives import softplus as softplus
from ._primitives import tanh as tanh
from ._proxy import proxy_anchor_loss as proxy_anchor_loss
from ._proxy import proxy_nca_loss as proxy_nca_loss
from ._ranking import approx_ndcg_loss as approx_ndcg_loss
from ._ranking import listmle_loss as listmle_loss
from ._ranking import margin_ranking_loss as margin_ranking_loss
from ._ranking import pairwise_hinge_loss as pairwise_hinge_loss
from ._ranking import pairwise_logistic_loss as pairwise_logistic_loss
from ._ranking import pairwise_soft_zero_one_loss as pairwise_soft_zero_one_loss
from ._ranking import ranking_softmax_loss as ranking_softmax_loss
from ._reduction import masked_mean as masked_mean
from ._regression import absolute_error as absolute_error
from ._regression import cosine_distance as cosine_distance
from ._regression import cosine_similarity as cosine_similarity
from ._regression import gamma_deviance as gamma_deviance
from ._regression import huber_loss as huber_loss
from ._regression import l2_loss as l2_loss
from ._regression import log_cosh as log_cosh
from ._regression import mean_squared_log_error as mean_squared_log_error
from ._regression import pinball_loss as pinball_loss
from ._regression import smooth_l1_loss as smooth_l1_loss
from ._regression import squared_error as squared_error
from ._regression import tweedie_deviance as tweedie_deviance
from ._segmentation import binary_dice_loss as binary_dice_loss
from ._segmentation import dice_loss as dice_loss
from ._segmentation import multiclass_generalized_dice_loss as multiclass_generalized_dice_loss
from ._segmentation import tversky_loss as tversky_loss
from ._self_supervised import barlow_twins_loss as barlow_twins_loss
from ._self_supervised import dino_center_update as dino_center_update
from ._self_supervised import dino_loss as dino_loss
from ._self_supervised import negative_cosine_similarity as negative_cosine_similarity
from ._self_supervised import vicreg_loss as vicreg_loss
from ._structured import crf_log_likelihood as crf_log_likelihood
from ._structured import crf_log_partition as crf_log_partition
from ._structured import crf_loss as crf_loss
from ._structured import structured_hinge_loss as structured_hinge_loss
from ._structured import structured_perceptron_loss as structured_perceptron_loss
from ._structured import structured_risk_loss as structured_risk_loss
from ._structured import structured_softmax_margin_loss as structured_softmax_margin_loss

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
        "ctc_loss_with_forward_probs",  # (loss, alphas) tuple; its loss is ctc_loss
        "make_fenchel_young_loss",  # builds a loss from a max function
        "crf_decode",
        "crf_marginals",
        "checked",  # wraps a loss with run-time value checks
        "preference_rewards",
        "dino_center_update",  # the moving average of the teacher's outputs dino_loss takes  # the rewards/margins/accuracies a preference trainer logs
    }
)
