"""NetG / NetD / NetC against the official code: parameter counts, state-dict keys, init, forward maths.

What is checked is stated in docs/official_behaviour.md §3–§5 (networks) and §11 (keys)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dflib.models import Affine, DBlock, GBlock, NetC, NetD, NetG, count_parameters, channel_pairs, g_channel_pairs

torch.set_num_threads(1)


@pytest.mark.parametrize(
    "imsize, expected",
    [(256, 9_744_131), (128, 7_306_499), (64, 4_868_867)],
)
def test_netg_parameter_counts(imsize, expected):
    assert count_parameters(NetG(ngf=32, z_dim=100, cond_dim=256, imsize=imsize)) == expected


def test_netd_netc_parameter_counts_256():
    assert count_parameters(NetD(ndf=32, imsize=256)) == 6_619_206
    assert count_parameters(NetC(ndf=32, cond_dim=256)) == 295_936
    total = sum(count_parameters(m) for m in (NetG(), NetD(), NetC()))
    assert total == 16_659_273


def test_channel_schedules():
    assert g_channel_pairs(32, 256) == [(256, 256), (256, 256), (256, 256), (256, 128), (128, 64), (64, 32)]
    assert channel_pairs(32, 256) == [(32, 64), (64, 128), (128, 256), (256, 256), (256, 256), (256, 256)]
    assert g_channel_pairs(32, 64) == [(256, 256), (256, 128), (128, 64), (64, 32)]
    assert len(channel_pairs(32, 128)) == 5
    assert len(g_channel_pairs(16, 512)) == 7


@pytest.mark.parametrize("bad", [16, 48, 100, 1024])
def test_unsupported_sizes_raise_clear_error(bad):
    with pytest.raises(ValueError, match="power of two between 32 and 512"):
        NetG(imsize=bad)


def _expected_g_keys(nf=32, imsize=256, z_dim=100, cond=256):
    """The official key layout (docs/official_behaviour.md §11), written out apart from the module code."""
    keys = {"fc.weight": (nf * 128, z_dim), "fc.bias": (nf * 128,)}
    for i, (cin, cout) in enumerate(g_channel_pairs(nf, imsize)):
        p = f"GBlocks.{i}."
        keys[p + "c1.weight"] = (cout, cin, 3, 3)
        keys[p + "c1.bias"] = (cout,)
        keys[p + "c2.weight"] = (cout, cout, 3, 3)
        keys[p + "c2.bias"] = (cout,)
        for fuse, ch in (("fuse1", cin), ("fuse2", cout)):
            for a in ("affine0", "affine1"):
                for fc in ("fc_gamma", "fc_beta"):
                    q = f"{p}{fuse}.{a}.{fc}."
                    keys[q + "linear1.weight"] = (ch, z_dim + cond)
                    keys[q + "linear1.bias"] = (ch,)
                    keys[q + "linear2.weight"] = (ch, ch)
                    keys[q + "linear2.bias"] = (ch,)
        if cin != cout:
            keys[p + "c_sc.weight"] = (cout, cin, 1, 1)
            keys[p + "c_sc.bias"] = (cout,)
    keys["to_rgb.1.weight"] = (3, nf, 3, 3)
    keys["to_rgb.1.bias"] = (3,)
    return keys


def _expected_d_keys(nf=32, imsize=256):
    keys = {"conv_img.weight": (nf, 3, 3, 3), "conv_img.bias": (nf,)}
    for i, (fin, fout) in enumerate(channel_pairs(nf, imsize)):
        p = f"DBlocks.{i}."
        keys[p + "gamma"] = (1,)
        keys[p + "conv_r.0.weight"] = (fout, fin, 4, 4)
        keys[p + "conv_r.2.weight"] = (fout, fout, 3, 3)
        keys[p + "conv_s.weight"] = (fout, fin, 1, 1)
        keys[p + "conv_s.bias"] = (fout,)
    return keys


def _shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_state_dict_keys_and_shapes_match_the_official_layout():
    g, d, c = NetG(), NetD(), NetC()
    assert _shapes(g) == _expected_g_keys()
    assert len(g.state_dict()) == 226
    assert _shapes(d) == _expected_d_keys()
    assert len(d.state_dict()) == 32
    assert _shapes(c) == {"joint_conv.0.weight": (64, 512, 3, 3), "joint_conv.2.weight": (1, 64, 4, 4)}
    # D_Block lists gamma first (optimizer_D state order depends on registration order)
    assert list(d.state_dict())[2:7] == [
        "DBlocks.0.gamma", "DBlocks.0.conv_r.0.weight", "DBlocks.0.conv_r.2.weight",
        "DBlocks.0.conv_s.weight", "DBlocks.0.conv_s.bias",
    ]


def test_affine_initialisation_is_identity():
    torch.manual_seed(0)
    a = Affine(356, 8)
    assert torch.count_nonzero(a.fc_gamma.linear2.weight) == 0
    assert torch.all(a.fc_gamma.linear2.bias == 1)
    assert torch.count_nonzero(a.fc_beta.linear2.weight) == 0
    assert torch.count_nonzero(a.fc_beta.linear2.bias) == 0
    assert torch.count_nonzero(a.fc_gamma.linear1.weight) == a.fc_gamma.linear1.weight.numel()  # default init
    x, y = torch.randn(3, 8, 5, 5), torch.randn(3, 356)
    assert torch.equal(a(x, y), x)


def test_dblock_starts_as_linear_shortcut_and_conv_s_always_exists():
    blk = DBlock(8, 8)
    assert hasattr(blk, "conv_s") and blk.gamma.item() == 0.0
    x = torch.randn(2, 8, 8, 8)
    torch.testing.assert_close(blk(x), F.avg_pool2d(x, 2))
    blk2 = DBlock(4, 8)
    torch.testing.assert_close(blk2(torch.ones(1, 4, 4, 4)), F.avg_pool2d(blk2.conv_s(torch.ones(1, 4, 4, 4)), 2))


def test_gblock_shortcut_only_when_channels_change():
    assert not hasattr(GBlock(356, 8, 8), "c_sc")
    assert hasattr(GBlock(356, 8, 4), "c_sc")


# ------------------------------------------------------------------------------------------------
# An independent functional forward written from docs/official_behaviour.md §3–§5, fed the module's weights.
# ------------------------------------------------------------------------------------------------


def _lrelu(x):
    return torch.where(x >= 0, x, 0.2 * x)


def _affine_ref(sd, p, x, y):
    def mlp(q):
        h = torch.clamp_min(y @ sd[q + "linear1.weight"].T + sd[q + "linear1.bias"], 0)
        return h @ sd[q + "linear2.weight"].T + sd[q + "linear2.bias"]

    g, b = mlp(p + "fc_gamma."), mlp(p + "fc_beta.")
    return g[:, :, None, None] * x + b[:, :, None, None]


def _netg_ref(sd, z, s, ngf, n_blocks):
    h = (z @ sd["fc.weight"].T + sd["fc.bias"]).reshape(z.shape[0], 8 * ngf, 4, 4)
    y = torch.cat([z, s], 1)
    for i in range(n_blocks):
        p = f"GBlocks.{i}."
        h = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)  # nearest x2
        sc = F.conv2d(h, sd[p + "c_sc.weight"], sd[p + "c_sc.bias"]) if p + "c_sc.weight" in sd else h
        r = _lrelu(_affine_ref(sd, p + "fuse1.affine0.", h, y))
        r = _lrelu(_affine_ref(sd, p + "fuse1.affine1.", r, y))
        r = F.conv2d(r, sd[p + "c1.weight"], sd[p + "c1.bias"], padding=1)
        r = _lrelu(_affine_ref(sd, p + "fuse2.affine0.", r, y))
        r = _lrelu(_affine_ref(sd, p + "fuse2.affine1.", r, y))
        r = F.conv2d(r, sd[p + "c2.weight"], sd[p + "c2.bias"], padding=1)
        h = sc + r
    return torch.tanh(F.conv2d(_lrelu(h), sd["to_rgb.1.weight"], sd["to_rgb.1.bias"], padding=1))


def _netd_ref(sd, x, n_blocks):
    h = F.conv2d(x, sd["conv_img.weight"], sd["conv_img.bias"], padding=1)
    for i in range(n_blocks):
        p = f"DBlocks.{i}."
        r = _lrelu(F.conv2d(h, sd[p + "conv_r.0.weight"], stride=2, padding=1))
        r = _lrelu(F.conv2d(r, sd[p + "conv_r.2.weight"], padding=1))
        if sd[p + "conv_r.0.weight"].shape[0] != sd[p + "conv_r.0.weight"].shape[1]:
            h = F.conv2d(h, sd[p + "conv_s.weight"], sd[p + "conv_s.bias"])
        h = F.avg_pool2d(h, 2) + sd[p + "gamma"] * r
    return h


def _netc_ref(sd, f, s):
    y = s[:, :, None, None].expand(-1, -1, 4, 4)
    h = _lrelu(F.conv2d(torch.cat([f, y], 1), sd["joint_conv.0.weight"], padding=1))
    return F.conv2d(h, sd["joint_conv.2.weight"])


def _randomise(module, seed):
    """Non-trivial weights everywhere (the identity init would hide bugs in the Affine MLPs and gammas)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * (0.5 / max(1, p[0].numel()) ** 0.5))
    return module


@pytest.mark.parametrize("imsize", [32, 64])
def test_forward_matches_independent_reference(imsize):
    torch.manual_seed(1)
    ngf = 8
    g = _randomise(NetG(ngf=ngf, z_dim=100, cond_dim=256, imsize=imsize).double(), 1)
    d = _randomise(NetD(ndf=ngf, imsize=imsize).double(), 2)
    c = _randomise(NetC(ndf=ngf, cond_dim=256).double(), 3)
    z, s = torch.randn(3, 100, dtype=torch.float64), torch.randn(3, 256, dtype=torch.float64)
    img = g(z, s)
    assert img.shape == (3, 3, imsize, imsize) and img.abs().max() <= 1
    ref_img = _netg_ref(g.state_dict(), z, s, ngf, len(g.GBlocks))
    torch.testing.assert_close(img, ref_img, rtol=1e-10, atol=1e-10)
    feat = d(img)
    assert feat.shape == (3, 8 * ngf, 4, 4)
    torch.testing.assert_close(feat, _netd_ref(d.state_dict(), img, len(d.DBlocks)), rtol=1e-10, atol=1e-10)
    out = c(feat, s)
    assert out.shape == (3, 1, 1, 1)
    torch.testing.assert_close(out, _netc_ref(c.state_dict(), feat, s), rtol=1e-10, atol=1e-10)


def test_condition_is_noise_first_then_sentence():
    g = NetG(ngf=4, z_dim=5, cond_dim=7, imsize=32)
    z, s = torch.randn(2, 5), torch.randn(2, 7)
    assert torch.equal(g.condition(z, s)[:, :5], z) and torch.equal(g.condition(z, s)[:, 5:], s)
    with pytest.raises(ValueError, match="expects noise"):
        g(torch.randn(2, 7), torch.randn(2, 5))


@pytest.mark.parametrize("imsize", [32, 512])
def test_all_supported_sizes_build_and_end_at_4x4(imsize):
    d = NetD(ndf=2, imsize=imsize)
    assert d(torch.randn(1, 3, imsize, imsize)).shape == (1, 16, 4, 4)
    g = NetG(ngf=2, z_dim=4, cond_dim=3, imsize=imsize)
    assert g(torch.randn(1, 4), torch.randn(1, 3)).shape == (1, 3, imsize, imsize)


def test_netc_tiles_sentence_after_features():
    torch.manual_seed(0)
    c = NetC(ndf=2, cond_dim=3)
    f, s = torch.randn(2, 16, 4, 4), torch.randn(2, 3)
    w = c.joint_conv[0].weight
    with torch.no_grad():
        w.zero_()
        w[:, 16:] = 1.0  # only the sentence channels (which come after the 16 feature channels)
    h = c.joint_conv[0](torch.cat([f, s[:, :, None, None].expand(-1, -1, 4, 4)], 1))
    assert torch.allclose(h[:, :, 1, 1], s.sum(1, keepdim=True).expand(-1, 4) * 9)
