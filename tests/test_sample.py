"""Sampling: truncated noise, generate, interpolation, loading dflib and official checkpoints, CLI."""

from __future__ import annotations

import json

import pytest
import torch

from dflib import sample as S
from dflib.cli import sample as sample_cli
from dflib.noise import truncated_noise
from dflib.config import ModelConfig, build_models
from dflib.text import BagOfWordsEncoder

torch.set_num_threads(1)
CFG = ModelConfig(imsize=32, ngf=2, ndf=2, z_dim=4, cond_dim=8)


@pytest.fixture()
def gen_enc():
    torch.manual_seed(0)
    netG = build_models(CFG)[0]
    with torch.no_grad():  # make the affines text-sensitive (they start as the identity)
        for p in netG.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return netG, BagOfWordsEncoder(8)


def test_truncated_noise_bounds_scale_and_seed():
    z = truncated_noise(2000, 10, truncation=0.88, seed=3)
    assert z.shape == (2000, 10) and z.dtype == torch.float32
    assert z.abs().max() <= 2 * 0.88 + 1e-6 and z.abs().max() > 1.6  # truncnorm(-2, 2) * 0.88
    assert abs(z.std().item() - 0.88 * 0.8796) < 0.02  # std of N(0,1) truncated at +-2 is 0.8796
    assert torch.equal(z, truncated_noise(2000, 10, truncation=0.88, seed=3))
    assert not torch.equal(z, truncated_noise(2000, 10, truncation=0.88, seed=4))
    plain = truncated_noise(4000, 5, truncation=None, seed=0)
    assert plain.abs().max() > 2.5  # not truncated


def test_generate_groups_by_prompt_and_shares_noise(gen_enc):
    netG, enc = gen_enc
    out = S.generate(netG, enc, ["a red circle", "a blue square", "a red circle"], n=3, seed=1)
    assert out.shape == (9, 3, 32, 32) and out.abs().max() <= 1
    torch.testing.assert_close(out[0:3], out[6:9])  # same prompt, same (shared) noise
    assert not torch.allclose(out[0:3], out[3:6])  # the text changes the image
    again = S.generate(netG, enc, ["a red circle"], n=3, seed=1)
    torch.testing.assert_close(again, out[0:3])
    assert not torch.allclose(S.generate(netG, enc, ["a red circle"], n=3, seed=2), again)
    with pytest.raises(ValueError, match="no prompts"):
        S.generate(netG, enc, [], n=2)


def test_interpolation_end_points(gen_enc):
    netG, enc = gen_enc
    path = S.interpolate_prompts(netG, enc, "a red circle", "a blue square", steps=4, n=1, seed=5)
    assert path.shape == (4, 3, 32, 32)
    ends = S.generate(netG, enc, ["a red circle", "a blue square"], n=1, seed=5)
    torch.testing.assert_close(path[0], ends[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], ends[1], atol=1e-5, rtol=0)
    nz = S.interpolate_noise(netG, enc, "a red circle", steps=5, seeds=(0, 1))
    assert nz.shape == (5, 3, 32, 32)
    torch.testing.assert_close(nz[0], S.generate(netG, enc, ["a red circle"], n=1, seed=0)[0], atol=1e-5, rtol=0)
    a, b = torch.randn(6), torch.randn(6)
    sl = S.slerp(a, b, torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(sl[0], a) and torch.testing.assert_close(sl[1], b)


def test_load_generator_from_official_layout(tmp_path, gen_enc):
    netG, _ = gen_enc
    netD, netC = build_models(CFG)[1:]
    sd = {f"module.{k}": v for k, v in netG.state_dict().items()}  # DDP prefix, as the official files
    torch.save({"model": {"netG": sd, "netD": netD.state_dict(), "netC": netC.state_dict()},
                "optimizers": {}, "epoch": 1220}, tmp_path / "state_epoch_1220.pth")
    g, info = S.load_generator(tmp_path / "state_epoch_1220.pth")
    assert info["kind"] == "official" and info["model"] == CFG and not g.training
    torch.testing.assert_close(g.fc.weight, netG.fc.weight)
    with pytest.raises(ValueError, match="text-encoder-path"):
        S.load_text_encoder_for(info)


def test_cli_from_a_training_run(tmp_path):
    from test_train_resume import tiny_cfg

    from dflib.train import Trainer

    tr = Trainer(tiny_cfg(), out_dir=tmp_path / "run")
    tr.run(max_steps=2)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle in the center\n\na big blue square\n")
    rc = sample_cli.main([str(tmp_path / "run"), "--prompts-file", str(prompts), "--prompt", "a green star", "--n", "4",
                 "--singles", "--out", str(tmp_path / "out"), "--seed", "3"])
    assert rc == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    stems = ["a-big-blue-square", "a-green-star", "a-red-circle-in-the-center"]  # files are named after their prompt
    assert names == sorted([*stems, *(s + ".png" for s in stems), "prompts.txt"])
    assert len(list((tmp_path / "out" / "a-big-blue-square").iterdir())) == 4
    rc = sample_cli.main([str(tmp_path / "run"), "--interpolate", "a red circle", "a blue square", "--steps", "3",
                 "--out", str(tmp_path / "interp")])
    assert rc == 0 and (tmp_path / "interp" / "a-red-circle--to--a-blue-square.png").is_file()
    # the generator the CLI loads is the one the trainer holds
    g, info = S.load_generator(tmp_path / "run")
    assert info["kind"] == "dflib" and info["step"] == 2
    torch.testing.assert_close(g.fc.weight, tr.nets.netG.fc.weight)
