"""Loading checkpoints in the official DF-GAN layout (docs/official_behaviour.md §11), built from random weights."""

from __future__ import annotations

import collections

import pytest
import torch

from dflib.checkpoint import infer_model_config, load_official_checkpoint
from dflib.weights import CheckpointMismatchError, describe_state_dict
from dflib.config import ModelConfig, build_models

torch.set_num_threads(1)


def _official_file(tmp_path, cfg, prefix="module.", name="state_epoch_1220.pth", seed=0):
    torch.manual_seed(seed)
    g, d, c = build_models(cfg)
    with torch.no_grad():
        for p in list(g.parameters()) + list(d.parameters()):
            p.add_(0.01 * torch.randn_like(p))
    sd = lambda m: collections.OrderedDict((prefix + k, v) for k, v in m.state_dict().items())  # noqa: E731
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(list(d.parameters()) + list(c.parameters()), lr=4e-4, betas=(0.0, 0.9))
    ckpt = {"model": {"netG": sd(g), "netD": sd(d), "netC": sd(c)},
            "optimizers": {"optimizer_G": opt_g.state_dict(), "optimizer_D": opt_d.state_dict()}, "epoch": 1220}
    path = tmp_path / name
    torch.save(ckpt, path)
    return path, (g, d, c)


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_loads_official_layout_strictly_with_or_without_ddp_prefix(tmp_path, prefix):
    cfg = ModelConfig(imsize=64, ngf=8, ndf=8)
    path, (g, d, c) = _official_file(tmp_path, cfg, prefix=prefix)
    out = load_official_checkpoint(path)
    assert out["config"] == cfg and out["epoch"] == 1220
    for a, b in ((out["netG"], g), (out["netD"], d), (out["netC"], c)):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
    z, s = torch.randn(2, 100), torch.randn(2, 256)
    torch.testing.assert_close(out["netG"](z, s), g(z, s))
    assert set(out["optimizers"]) == {"optimizer_G", "optimizer_D"}


def test_infers_paper_configuration_from_256px_shapes(tmp_path):
    g, d, _ = build_models(ModelConfig())
    assert infer_model_config(g.state_dict(), d.state_dict()) == ModelConfig()


def test_mismatch_error_names_missing_unexpected_and_misshaped_keys(tmp_path):
    path, _ = _official_file(tmp_path, ModelConfig(imsize=64, ngf=8, ndf=8))
    with pytest.raises(CheckpointMismatchError) as err:
        load_official_checkpoint(path, config=ModelConfig(imsize=128, ngf=8, ndf=8))
    msg = str(err.value)
    assert "missing keys: GBlocks.4." in msg and "mis-shaped keys:" in msg and "netG" in msg


def test_v1_2020_checkpoint_is_recognised(tmp_path):
    v1 = {"block0.affine0.fc_gamma.linear1.weight": torch.zeros(256, 256), "conv_img.1.weight": torch.zeros(3, 32, 3, 3)}
    assert "v1 (2020)" in describe_state_dict(v1)
    torch.save(v1, tmp_path / "netG_600.pth")
    with pytest.raises(CheckpointMismatchError, match="v1 \\(2020\\)"):
        load_official_checkpoint(tmp_path / "netG_600.pth")
    vd = {"COND_DNET.joint_conv.0.weight": torch.zeros(64, 768, 3, 3)}
    assert "v1 (2020) DF-GAN discriminator" in describe_state_dict(vd)


def test_damsm_encoder_given_instead_is_named(tmp_path):
    enc = {"encoder.weight": torch.zeros(10, 300), "rnn.weight_ih_l0": torch.zeros(512, 300)}
    torch.save(enc, tmp_path / "text_encoder200.pth")
    with pytest.raises(CheckpointMismatchError, match="DAMSM text encoder"):
        load_official_checkpoint(tmp_path / "text_encoder200.pth")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_refuses_files_with_code_and_missing_files(tmp_path):
    torch.save({"model": _Evil()}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointMismatchError, match="refused to load .*weights only"):
        load_official_checkpoint(tmp_path / "evil.pth")
    with pytest.raises(FileNotFoundError, match="state_epoch_1220.pth"):
        load_official_checkpoint(tmp_path / "nope.pth")
