"""Closed-form gradients, one per loss, by the loss's own name and arguments.

``jaxlosses.closed_form.NAME(*args, **kwargs)`` returns the analytic gradient of
``jaxlosses.NAME(*args, **kwargs).sum()`` with respect to the first argument (the
prediction), or a tuple in argument order where a loss has several learned inputs
(``gaussian_nll``: means, variances; ``gaussian_kl_divergence``: means,
log-variances). Each is derived by hand and written next to its loss; none calls
:func:`jax.grad`. ``python -m jaxlosses verify`` proves they equal autodiff.

Example:
  >>> import jax.numpy as jnp
  >>> import jaxlosses as jl
  >>> logits, labels = jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])
  >>> jl.closed_form.softmax_cross_entropy(logits, labels).tolist()  # softmax - labels
  [-0.5, 0.5]
"""

from ._classification import _binary_cross_entropy_grad as binary_cross_entropy
from ._classification import _categorical_cross_entropy_grad as categorical_cross_entropy
from ._classification import _negative_log_likelihood_grad as negative_log_likelihood
from ._classification import _safe_softmax_cross_entropy_grad as safe_softmax_cross_entropy
from ._classification import _sigmoid_binary_cross_entropy_grad as sigmoid_binary_cross_entropy
from ._classification import _softmax_cross_entropy_grad as softmax_cross_entropy
from ._classification import (
    _softmax_cross_entropy_with_integer_labels_grad as softmax_cross_entropy_with_integer_labels,
)
from ._contrastive import _clip_loss_grad as clip_loss
from ._contrastive import _info_nce_loss_grad as info_nce_loss
from ._contrastive import _multiple_negatives_ranking_loss_grad as multiple_negatives_ranking_loss
from ._contrastive import _ntxent_grad as ntxent
from ._contrastive import _siglip_loss_grad as siglip_loss
from ._contrastive import _supervised_contrastive_loss_grad as supervised_contrastive_loss
from ._ctc import _ctc_loss_grad as ctc_loss
from ._distillation import _jsd_distillation_loss_grad as jsd_distillation_loss
from ._distillation import _kl_distillation_loss_grad as kl_distillation_loss
from ._divergence import _convex_kl_divergence_grad as convex_kl_divergence
from ._divergence import _generalized_kl_divergence_grad as generalized_kl_divergence
from ._divergence import _js_divergence_grad as js_divergence
from ._divergence import _kl_divergence_grad as kl_divergence
from ._divergence import _kl_divergence_with_log_targets_grad as kl_divergence_with_log_targets
from ._embedding import _angle_loss_grad as angle_loss
from ._embedding import _arcface_loss_grad as arcface_loss
from ._embedding import _batch_all_triplet_loss_grad as batch_all_triplet_loss
from ._embedding import _batch_hard_triplet_loss_grad as batch_hard_triplet_loss
from ._embedding import _batch_semi_hard_triplet_loss_grad as batch_semi_hard_triplet_loss
from ._embedding import _circle_loss_grad as circle_loss
from ._embedding import _contrastive_loss_grad as contrastive_loss
from ._embedding import _cosent_loss_grad as cosent_loss
from ._embedding import _cosface_loss_grad as cosface_loss
from ._embedding import _cosine_embedding_loss_grad as cosine_embedding_loss
from ._embedding import _ge2e_loss_grad as ge2e_loss
from ._embedding import _hinge_embedding_loss_grad as hinge_embedding_loss
from ._embedding import _multi_similarity_loss_grad as multi_similarity_loss
from ._embedding import _sub_center_arcface_loss_grad as sub_center_arcface_loss
from ._embedding import _triplet_margin_loss_grad as triplet_margin_loss
from ._fenchel_young import _multiclass_sparsemax_loss_grad as multiclass_sparsemax_loss
from ._fenchel_young import _sparsemax_loss_grad as sparsemax_loss
from ._focal import _asymmetric_loss_grad as asymmetric_loss
from ._focal import _poly_loss_cross_entropy_grad as poly_loss_cross_entropy
from ._focal import _sigmoid_focal_loss_grad as sigmoid_focal_loss
from ._focal import _softmax_focal_loss_grad as softmax_focal_loss
from ._fused import _linear_softmax_cross_entropy_grad as linear_softmax_cross_entropy
from ._fused_distillation import (
    _linear_jsd_distillation_loss_grad as linear_jsd_distillation_loss,
)
from ._fused_distillation import (
    _linear_kl_distillation_loss_grad as linear_kl_distillation_loss,
)
from ._gan import _gan_discriminator_loss_grad as gan_discriminator_loss
from ._gan import _gan_generator_loss_grad as gan_generator_loss
from ._likelihood import _gaussian_kl_divergence_grad as gaussian_kl_divergence
from ._likelihood import _gaussian_nll_grad as gaussian_nll
from ._likelihood import _poisson_nll_grad as poisson_nll
from ._margin import _cost_augmented_hinge_loss_grad as cost_augmented_hinge_loss
from ._margin import _hinge_loss_grad as hinge_loss
from ._margin import _multi_margin_loss_grad as multi_margin_loss
from ._margin import _multiclass_hinge_loss_grad as multiclass_hinge_loss
from ._margin import _multiclass_perceptron_loss_grad as multiclass_perceptron_loss
from ._margin import _multilabel_margin_loss_grad as multilabel_margin_loss
from ._margin import _multilabel_soft_margin_loss_grad as multilabel_soft_margin_loss
from ._margin import _perceptron_loss_grad as perceptron_loss
from ._margin import _risk_loss_grad as risk_loss
from ._margin import _soft_margin_loss_grad as soft_margin_loss
from ._margin import _softmax_margin_loss_grad as softmax_margin_loss
from ._margin import _squared_hinge_loss_grad as squared_hinge_loss
from ._preference import _dpo_loss_grad as dpo_loss
from ._preference import _ipo_loss_grad as ipo_loss
from ._preference import _kto_loss_grad as kto_loss
from ._preference import _linear_sequence_log_probs_grad as linear_sequence_log_probs
from ._preference import _orpo_loss_grad as orpo_loss
from ._preference import _preference_hinge_loss_grad as preference_hinge_loss
from ._preference import _robust_dpo_loss_grad as robust_dpo_loss
from ._preference import _sequence_log_probs_grad as sequence_log_probs
from ._preference import _simpo_loss_grad as simpo_loss
from ._proxy import _proxy_anchor_loss_grad as proxy_anchor_loss
from ._proxy import _proxy_nca_loss_grad as proxy_nca_loss
from ._ranking import _approx_ndcg_loss_grad as approx_ndcg_loss
from ._ranking import _listmle_loss_grad as listmle_loss
from ._ranking import _margin_ranking_loss_grad as margin_ranking_loss
from ._ranking import _pairwise_hinge_loss_grad as pairwise_hinge_loss
from ._ranking import _pairwise_logistic_loss_grad as pairwise_logistic_loss
from ._ranking import _pairwise_soft_zero_one_loss_grad as pairwise_soft_zero_one_loss
from ._ranking import _ranking_softmax_loss_grad as ranking_softmax_loss
from ._regression import _absolute_error_grad as absolute_error
from ._regression import _cosine_distance_grad as cosine_distance
from ._regression import _cosine_similarity_grad as cosine_similarity
from ._regression import _gamma_deviance_grad as gamma_deviance
from ._regression import _huber_loss_grad as huber_loss
from ._regression import _l2_loss_grad as l2_loss
from ._regression import _log_cosh_grad as log_cosh
from ._regression import _mean_squared_log_error_grad as mean_squared_log_error
from ._regression import _pinball_loss_grad as pinball_loss
from ._regression import _smooth_l1_loss_grad as smooth_l1_loss
from ._regression import _squared_error_grad as squared_error
from ._regression import _tweedie_deviance_grad as tweedie_deviance
from ._segmentation import _binary_dice_loss_grad as binary_dice_loss
from ._segmentation import _dice_loss_grad as dice_loss
from ._segmentation import (
    _multiclass_generalized_dice_loss_grad as multiclass_generalized_dice_loss,
)
from ._segmentation import _tversky_loss_grad as tversky_loss
from ._self_supervised import _barlow_twins_loss_grad as barlow_twins_loss
from ._self_supervised import _dino_loss_grad as dino_loss
from ._self_supervised import _negative_cosine_similarity_grad as negative_cosine_similarity
from ._self_supervised import _vicreg_loss_grad as vicreg_loss
from ._structured import _crf_log_likelihood_grad as crf_log_likelihood
from ._structured import _crf_log_partition_grad as crf_log_partition
from ._structured import _crf_loss_grad as crf_loss
from ._structured import _structured_hinge_loss_grad as structured_hinge_loss
from ._structured import _structured_perceptron_loss_grad as structured_perceptron_loss
from ._structured import _structured_risk_loss_grad as structured_risk_loss
from ._structured import _structured_softmax_margin_loss_grad as structured_softmax_margin_loss

__all__ = [
    "absolute_error",
    "angle_loss",
    "approx_ndcg_loss",
    "arcface_loss",
    "asymmetric_loss",
    "barlow_twins_loss",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "batch_semi_hard_triplet_loss",
    "binary_cross_entropy",
    "binary_dice_loss",
    "categorical_cross_entropy",
    "circle_loss",
    "clip_loss",
    "contrastive_loss",
    "convex_kl_divergence",
    "cosent_loss",
    "cosface_loss",
    "cosine_distance",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cost_augmented_hinge_loss",
    "crf_log_likelihood",
    "crf_log_partition",
    "crf_loss",
    "ctc_loss",
    "dice_loss",
    "dino_loss",
    "dpo_loss",
    "gamma_deviance",
    "gan_discriminator_loss",
    "gan_generator_loss",
    "gaussian_kl_divergence",
    "gaussian_nll",
    "ge2e_loss",
    "generalized_kl_divergence",
    "hinge_embedding_loss",
    "hinge_loss",
    "huber_loss",
    "info_nce_loss",
    "ipo_loss",
    "js_divergence",
    "jsd_distillation_loss",
    "kl_distillation_loss",
    "kl_divergence",
    "kl_divergence_with_log_targets",
    "kto_loss",
    "l2_loss",
    "linear_jsd_distillation_loss",
    "linear_kl_distillation_loss",
    "linear_sequence_log_probs",
    "linear_softmax_cross_entropy",
    "listmle_loss",
    "log_cosh",
    "margin_ranking_loss",
    "mean_squared_log_error",
    "multi_margin_loss",
    "multi_similarity_loss",
    "multiclass_generalized_dice_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "multiple_negatives_ranking_loss",
    "negative_cosine_similarity",
    "negative_log_likelihood",
    "ntxent",
    "orpo_loss",
    "pairwise_hinge_loss",
    "pairwise_logistic_loss",
    "pairwise_soft_zero_one_loss",
    "perceptron_loss",
    "pinball_loss",
    "poisson_nll",
    "poly_loss_cross_entropy",
    "preference_hinge_loss",
    "proxy_anchor_loss",
    "proxy_nca_loss",
    "ranking_softmax_loss",
    "risk_loss",
    "robust_dpo_loss",
    "safe_softmax_cross_entropy",
    "sequence_log_probs",
    "siglip_loss",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "simpo_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
    "softmax_focal_loss",
    "softmax_margin_loss",
    "sparsemax_loss",
    "squared_error",
    "squared_hinge_loss",
    "structured_hinge_loss",
    "structured_perceptron_loss",
    "structured_risk_loss",
    "structured_softmax_margin_loss",
    "sub_center_arcface_loss",
    "supervised_contrastive_loss",
    "triplet_margin_loss",
    "tversky_loss",
    "tweedie_deviance",
    "vicreg_loss",
]
