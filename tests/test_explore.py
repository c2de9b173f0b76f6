"""dflib.explore: tables, parameter budgets, Affine responses, fusion variants, sampling helpers (tiny sizes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from dflib import explore
from dflib.models import Affine, DFBlock, NetC, NetD, NetG, count_parameters

torch.set_num_threads(1)


def _small():
    torch.manual_seed(0)
    return NetG(ngf=8, nz=8, cond_dim=16, imsize=32), NetD(ndf=8, imsize=32), NetC(ndf=8, cond_dim=16)


def test_layer_table_shapes_and_params_partition_netg():
    g, _, _ = _small()
    rows = explore.layer_table(g, torch.randn(2, 8), torch.randn(2, 16))
    assert [r.name for r in rows] == ["fc", "GBlocks.0", "GBlocks.1", "GBlocks.2", "to_rgb.0", "to_rgb.1", "to_rgb.2"]
    assert rows[0].in_shape == (2, 8) and rows[0].out_shape == (2, 8 * 8 * 16)
    assert rows[1].in_shape == (2, 64, 4, 4) and rows[1].out_shape == (2, 32, 8, 8)  # pairs (64,32) (32,16) (16,8)
    assert rows[3].out_shape == (2, 8, 32, 32)
    assert rows[-1].out_shape == (2, 3, 32, 32)
    assert sum(r.params for r in rows) == count_parameters(g)
    text = explore.format_table(rows)
    assert "GBlocks.2" in text and f"{count_parameters(g):,}" in text.splitlines()[-1]


def test_layer_table_netd_netc_and_bad_names():
    _, d, c = _small()
    rows = explore.layer_table(d, torch.randn(1, 3, 32, 32))
    assert rows[-1].out_shape == (1, 64, 4, 4) and sum(r.params for r in rows) == count_parameters(d)
    crow = explore.layer_table(c, torch.randn(1, 64, 4, 4), torch.randn(1, 16))
    assert crow[0].in_shape == (1, 64 + 16, 4, 4) and crow[-1].out_shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="not sub-modules"):
        explore.layer_table(d, torch.randn(1, 3, 32, 32), names=["nope"])


def test_layer_table_reports_modules_never_called():
    class Only(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)

    with pytest.raises(ValueError, match="never called"):
        explore.layer_table(Only(), torch.randn(1, 2))


def test_parameter_groups_sum_and_official_fusion_share():
    g = NetG()  # 256 px, nf 32: spec numbers
    groups = explore.parameter_groups(g)
    assert sum(groups.values()) == 9_744_131
    # 6 blocks x 2 DFBlocks x 2 Affines x 2 MLPs: Linear(356, C) + Linear(C, C) each
    expected = 0
    for cin, cout in [(256, 256)] * 3 + [(256, 128), (128, 64), (64, 32)]:
        for ch in (cin, cout):
            expected += 2 * 2 * (356 * ch + ch + ch * ch + ch)
    assert groups["fusion (Affine MLPs)"] == expected
    assert groups["fc (noise -> 4x4)"] == 413_696 and groups["to_rgb"] == 867


def test_unused_parameters_are_the_constant_width_shortcuts():
    d = NetD(ndf=8, imsize=64)  # pairs (8,16) (16,32) (32,64) (64,64): only block 3 keeps conv_s unused
    unused = explore.unused_parameters(d, torch.randn(1, 3, 64, 64))
    assert unused == {"DBlocks.3.conv_s.weight": 64 * 64, "DBlocks.3.conv_s.bias": 64}
    assert all(p.grad is None for p in d.parameters())


def test_linearity_gap_detects_affine_and_nonlinear():
    _, d, _ = _small()
    x1, x2 = torch.randn(2, 1, 3, 32, 32)
    assert explore.linearity_gap(d, x1, x2) < 1e-5  # gamma = 0 at init: NetD is affine
    with torch.no_grad():
        d.DBlocks[0].gamma.fill_(1.0)
    assert explore.linearity_gap(d, x1, x2) > 1e-3
    assert explore.linearity_gap(torch.relu, torch.ones(3), -2 * torch.ones(3)) == pytest.approx(1.0)


def test_find_official_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv("DFGAN_CHECKPOINT", raising=False)
    assert explore.find_official_checkpoint(candidates=[tmp_path / "none.pth"]) is None
    f = tmp_path / "ckpt.pth"
    f.write_bytes(b"x")
    monkeypatch.setenv("DFGAN_CHECKPOINT", str(f))
    assert explore.find_official_checkpoint(candidates=[]) == f
    monkeypatch.setenv("DFGAN_CHECKPOINT", str(tmp_path / "missing.pth"))
    assert explore.find_official_checkpoint(candidates=[f]) == f


def test_affine_responses_identity_at_init_then_depend_on_caption():
    g, _, _ = _small()
    cond = g.condition(torch.randn(3, 8), torch.randn(3, 16))
    resp = explore.affine_responses(g, cond)
    assert len(resp) == 3 * 2 * 2  # 3 blocks x 2 DFBlocks x 2 Affines
    gamma, beta = resp["GBlocks.0.fuse1.affine0"]
    assert gamma.shape == (3, 64) and torch.equal(gamma, torch.ones(3, 64)) and torch.equal(beta, torch.zeros(3, 64))
    assert explore.response_spread(gamma) == 0.0
    torch.manual_seed(1)
    nn.init.normal_(g.GBlocks[0].fuse1.affine0.fc_gamma.linear2.weight)
    gamma, _ = explore.affine_responses(g, cond)["GBlocks.0.fuse1.affine0"]
    assert explore.response_spread(gamma) > 0
    manual = gamma.std(dim=0, unbiased=False).mean().item()
    assert explore.response_spread(gamma) == pytest.approx(manual)
    with pytest.raises(ValueError, match="no Affine"):
        explore.affine_responses(nn.Linear(2, 2), cond)


@pytest.mark.parametrize("kind", explore.FUSION_KINDS)
def test_fusion_generators_forward_and_kind(kind):
    torch.manual_seed(0)
    g = explore.build_fusion_generator(kind, ngf=8, nz=8, cond_dim=16, imsize=32)
    assert explore.fusion_kind(g) == kind
    out = g(torch.randn(2, 8), torch.randn(2, 16))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    # everything but the fusion modules is the DF-GAN generator's
    base = NetG(ngf=8, nz=8, cond_dim=16, imsize=32)
    non_fuse = lambda net: {k: v.shape for k, v in net.state_dict().items() if ".fuse" not in k}  # noqa: E731
    assert non_fuse(g) == non_fuse(base)


def test_fusion_variant_parameter_counts():
    cond, ch = 24, 8
    assert count_parameters(explore.SingleAffineFusion(cond, ch)) * 2 == count_parameters(DFBlock(cond, ch))
    assert count_parameters(explore.ConcatFusion(cond, ch)) == (ch + cond) * ch + ch
    with pytest.raises(ValueError, match="unknown fusion kind"):
        explore.build_fusion_generator("film")


def test_concat_fusion_depends_on_condition_and_single_affine_is_identity_at_init():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 4)
    y = torch.randn(2, 24)
    cat = explore.ConcatFusion(24, 8)
    assert not torch.allclose(cat(x, y), cat(x, y.flip(0)))
    single = explore.SingleAffineFusion(24, 8)
    assert torch.allclose(single(x, y), torch.nn.functional.leaky_relu(x, 0.2))
    assert isinstance(single.affine0, Affine)


def test_truncated_noise_bounds_scale_and_determinism():
    z = explore.truncated_noise(500, 16, truncation=0.5, seed=3)
    assert z.shape == (500, 16) and z.abs().max() <= 2.0 * 0.5 + 1e-6
    assert torch.equal(z, explore.truncated_noise(500, 16, truncation=0.5, seed=3))
    assert not torch.equal(z, explore.truncated_noise(500, 16, truncation=0.5, seed=4))
    assert torch.equal(explore.truncated_noise(4, 3, truncation=0.0), torch.zeros(4, 3))
    a, b = explore.truncated_noise(8, 4, 1.0, seed=1), explore.truncated_noise(8, 4, 0.25, seed=1)
    assert torch.allclose(a * 0.25, b)
    with pytest.raises(ValueError):
        explore.truncated_noise(2, 2, truncation=-1)


def test_figures_build():
    figs = [
        explore.plot_channel_schedule(8, 64),
        explore.plot_parameter_groups({"G": {"a": 10, "b": 5}, "D": {"a": 3}}),
        explore.plot_affine_responses(torch.ones(3, 40), torch.zeros(3, 40), ["x", "y", "z"]),
        explore.plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["one", "a very long caption " * 4]),
    ]
    for f in figs:
        assert f.axes
        plt.close(f)
    with pytest.raises(ValueError, match="len\\(captions\\)"):
        explore.plot_caption_rows(torch.zeros(2, 3, 3, 8, 8), ["only one"])
