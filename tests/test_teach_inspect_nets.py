"""dfcourse.inspect_nets: per-block tables, parameter budgets, unused parameters (tiny sizes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from dflib.models import NetC, NetD, NetG, count_parameters
from dfcourse import inspect_nets

torch.set_num_threads(1)


def _small():
    torch.manual_seed(0)
    return NetG(ngf=8, z_dim=8, cond_dim=16, imsize=32), NetD(ndf=8, imsize=32), NetC(ndf=8, cond_dim=16)


def test_layer_table_shapes_and_params_partition_netg():
    g, _, _ = _small()
    rows = inspect_nets.layer_table(g, torch.randn(2, 8), torch.randn(2, 16))
    assert [r.name for r in rows] == ["fc", "GBlocks.0", "GBlocks.1", "GBlocks.2", "to_rgb.0", "to_rgb.1", "to_rgb.2"]
    assert rows[0].in_shape == (2, 8) and rows[0].out_shape == (2, 8 * 8 * 16)
    assert rows[1].in_shape == (2, 64, 4, 4) and rows[1].out_shape == (2, 32, 8, 8)  # pairs (64,32) (32,16) (16,8)
    assert rows[3].out_shape == (2, 8, 32, 32)
    assert rows[-1].out_shape == (2, 3, 32, 32)
    assert sum(r.params for r in rows) == count_parameters(g)
    text = inspect_nets.format_table(rows)
    assert "GBlocks.2" in text and f"{count_parameters(g):,}" in text.splitlines()[-1]


def test_layer_table_netd_netc_and_bad_names():
    _, d, c = _small()
    rows = inspect_nets.layer_table(d, torch.randn(1, 3, 32, 32))
    assert rows[-1].out_shape == (1, 64, 4, 4) and sum(r.params for r in rows) == count_parameters(d)
    crow = inspect_nets.layer_table(c, torch.randn(1, 64, 4, 4), torch.randn(1, 16))
    assert crow[0].in_shape == (1, 64 + 16, 4, 4) and crow[-1].out_shape == (1, 1, 1, 1)
    with pytest.raises(ValueError, match="not sub-modules"):
        inspect_nets.layer_table(d, torch.randn(1, 3, 32, 32), names=["nope"])


def test_layer_table_reports_modules_never_called():
    class Only(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

        def forward(self, x):
            return self.a(x)

    with pytest.raises(ValueError, match="never called"):
        inspect_nets.layer_table(Only(), torch.randn(1, 2))


def test_parameter_groups_sum_and_official_fusion_share():
    g = NetG()  # 256 px, nf 32: the official configuration
    groups = inspect_nets.parameter_groups(g)
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
    unused = inspect_nets.unused_parameters(d, torch.randn(1, 3, 64, 64))
    assert unused == {"DBlocks.3.conv_s.weight": 64 * 64, "DBlocks.3.conv_s.bias": 64}
    assert all(p.grad is None for p in d.parameters())


def test_linearity_gap_detects_affine_and_nonlinear():
    _, d, _ = _small()
    x1, x2 = torch.randn(2, 1, 3, 32, 32)
    assert inspect_nets.linearity_gap(d, x1, x2) < 1e-5  # gamma = 0 at init: NetD is affine
    with torch.no_grad():
        d.DBlocks[0].gamma.fill_(1.0)
    assert inspect_nets.linearity_gap(d, x1, x2) > 1e-3
    assert inspect_nets.linearity_gap(torch.relu, torch.ones(3), -2 * torch.ones(3)) == pytest.approx(1.0)


def test_figures_build():
    figs = [
        inspect_nets.plot_channel_schedule(8, 64),
        inspect_nets.plot_parameter_groups({"G": {"a": 10, "b": 5}, "D": {"a": 3}}),
    ]
    for f in figs:
        assert f.axes
        plt.close(f)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_title() for ax in fig.axes]


def test_generator_diagram_shapes_come_from_the_forward_pass():
    g, _, _ = _small()  # 32 px, nf 8, z 8, sentence 16: pairs (64,32) (32,16) (16,8)
    nodes, side = inspect_nets.generator_nodes(g, torch.randn(2, 8), torch.randn(2, 16))
    assert [n.label for n in nodes] == ["noise z", "fc, reshape", "GBlock 0", "GBlock 1", "GBlock 2", "to_rgb"]
    assert [n.shape for n in nodes] == [(8,), (64, 4, 4), (32, 8, 8), (16, 16, 16), (8, 32, 32), (3, 32, 32)]
    assert [n.side for n in nodes] == [False, False, True, True, True, False]
    assert "8 + 16 = 24" in side and "shortcut" in nodes[2].detail
    fig = inspect_nets.plot_flow(nodes, "NetG", side)
    texts = _texts(fig)
    assert "16×16×16" in texts and "3×32×32" in texts and side in texts and "NetG" in texts
    plt.close(fig)


def test_discriminator_diagram_ends_in_one_logit():
    _, d, c = _small()
    nodes, side = inspect_nets.discriminator_nodes(d, c, torch.randn(1, 3, 32, 32), torch.randn(1, 16))
    assert nodes[0].shape == (3, 32, 32) and nodes[1].shape == (8, 32, 32)
    assert [n.shape for n in nodes[2:5]] == [(16, 16, 16), (32, 8, 8), (64, 4, 4)]
    assert nodes[-2].shape == (64 + 16, 4, 4) and nodes[-2].side and nodes[-1].shape == (1, 1, 1)
    assert "(16)" in side
    fig = inspect_nets.plot_flow(nodes, "NetD", side)
    assert "80×4×4" in _texts(fig) and "1×1×1" in _texts(fig)
    plt.close(fig)
    with pytest.raises(ValueError):
        inspect_nets.plot_flow([], "empty")


def test_stacked_vs_one_stage_sizes():
    assert inspect_nets.shape_text((256, 4, 4)) == "256×4×4"
    fig = inspect_nets.plot_stacked_vs_one_stage(256, 6)
    texts = _texts(fig)
    assert {"image 64×64", "image 128×128", "image 256×256", "D0", "D1", "D2"} <= set(texts)
    assert any("6 GBlocks" in t for t in texts) and len(fig.axes) == 2
    assert texts.count("sentence") == 4  # the text reaches each of the 3 stacked Ds and DF-GAN's one D
    plt.close(fig)
