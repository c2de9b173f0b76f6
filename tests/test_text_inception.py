"""DAMSM Inception-v3 image encoder (dfdamsm.image_encoders.InceptionImageEncoder; docs/official_behaviour.md §13–§14).

Built with random weights (nothing is downloaded); one 299x299 forward at batch 1 checks the shapes.
"""

from __future__ import annotations

import pytest
import torch

from dflib.weights import CheckpointMismatchError
from dfdamsm.image_encoders import INCEPTION_TRUNK, InceptionImageEncoder

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return InceptionImageEncoder(dim=256).eval()


def test_keys_shapes_and_frozen_trunk(encoder):
    state = encoder.state_dict()
    assert "Conv2d_1a_3x3.conv.weight" in state and "Mixed_7c.branch_pool.bn.running_mean" in state
    assert tuple(state["emb_features.weight"].shape) == (256, 768, 1, 1)
    assert "emb_features.bias" not in state
    assert tuple(state["emb_cnn_code.weight"].shape) == (256, 2048)
    assert {k.split(".")[0] for k in state} == {*INCEPTION_TRUNK, "emb_features", "emb_cnn_code"}
    trainable = {n.split(".")[0] for n, p in encoder.named_parameters() if p.requires_grad}
    assert trainable == {"emb_features", "emb_cnn_code"}
    w = encoder.emb_cnn_code.weight.detach()
    assert float(w.abs().max()) <= 0.1


def test_forward_shapes_any_input_size(encoder):
    with torch.no_grad():
        regions, code = encoder(torch.rand(1, 3, 64, 64) * 2 - 1)  # resized to 299 inside
    assert regions.shape == (1, 256, 17, 17) and code.shape == (1, 256)


def test_weight_files_are_checked(tmp_path, encoder):
    path = tmp_path / "image_encoder.pth"
    torch.save({"emb_features.weight": torch.zeros(256, 768, 1, 1)}, path)
    with pytest.raises(CheckpointMismatchError, match="missing keys: Conv2d_1a_3x3") as err:
        encoder.load_weights(path)
    assert "ModelConfig" not in str(err.value)  # no hint meant for the DF-GAN networks
    with pytest.raises(CheckpointMismatchError, match="not a torchvision Inception-v3"):
        encoder.load_trunk(path)
