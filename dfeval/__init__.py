"""The paper's evaluation protocols: FID and R-precision on the CUB and COCO test sets, as the official code
samples and scores them (paper Sec. 4), for DF-GAN checkpoints (official or trained with dflib).

Beside dflib (it imports dflib and dfdamsm; dflib never imports it). dflib's own measures, the standard
FID among them, are :mod:`dflib.metrics`.

* :mod:`~dfeval.official`: the official FID variant (torchvision Inception-v3, DM-GAN's normalisation)
* :mod:`~dfeval.protocol`: the protocols (which captions, how many images, which extractor), run end to end
* :mod:`~dfeval.evaluate`: a checkpoint evaluated from files, each checked before anything slow
* :mod:`~dfeval.cli`: ``python -m dflib evaluate``
"""

from .evaluate import evaluate_checkpoint
from .official import OfficialInception, load_official_inception, official_preprocess
from .protocol import PROTOCOLS, EvaluationError, Protocol, get_protocol, run_protocol

__all__ = ["evaluate_checkpoint", "OfficialInception", "load_official_inception", "official_preprocess", "PROTOCOLS",
           "EvaluationError", "Protocol", "get_protocol", "run_protocol"]
