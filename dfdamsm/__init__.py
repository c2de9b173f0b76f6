"""DAMSM pretraining: the text and image encoders DF-GAN borrows from AttnGAN, trained on any dataset.

DF-GAN conditions on the sentence vector of a DAMSM text encoder pretrained beforehand (paper Sec. 4: the
encoder of AttnGAN, Xu et al., CVPR 2018, Sec. 3.2) and never trains it; this package is that earlier stage,
beside dflib (it imports dflib, dflib never imports it). The text encoder itself, which every DF-GAN run
loads, is :mod:`dflib.text.rnn`.

* :mod:`~dfdamsm.image_encoders`: the Inception-v3 trunk of AttnGAN and a small CNN for 32-64 px data
* :mod:`~dfdamsm.loss`: the word- and sentence-level matching losses
* :mod:`~dfdamsm.pretrain`: pretraining, retrieval accuracy, loading a pretrained run
* :mod:`~dfdamsm.cli`: ``python -m dflib pretrain``
"""

from .image_encoders import InceptionImageEncoder, SmallImageEncoder
from .loss import DAMSMGammas, damsm_loss
from .pretrain import DAMSMConfig, load_damsm_run, pretrain_damsm, retrieval_at_1, train_damsm

__all__ = ["InceptionImageEncoder", "SmallImageEncoder", "DAMSMGammas", "damsm_loss", "DAMSMConfig",
           "load_damsm_run", "pretrain_damsm", "retrieval_at_1", "train_damsm"]
