"""dfcourse.affine_probe and fusion: Affine responses, transfer curves, fusion variants (tiny sizes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

from dflib.models import Affine, DFBlock, NetG, count_parameters
from dfcourse import affine_probe, fusion

torch.set_num_threads(1)


def _small_generator():
    torch.manual_seed(0)
    return NetG(ngf=8, z_dim=8, cond_dim=16, imsize=32)


def test_affine_responses_identity_at_init_then_depend_on_caption():
    g = _small_generator()
    cond = g.condition(torch.randn(3, 8), torch.randn(3, 16))
    resp = affine_probe.affine_responses(g, cond)
    assert len(resp) == 3 * 2 * 2  # 3 blocks x 2 DFBlocks x 2 Affines
    gamma, beta = resp["GBlocks.0.fuse1.affine0"]
    assert gamma.shape == (3, 64) and torch.equal(gamma, torch.ones(3, 64)) and torch.equal(beta, torch.zeros(3, 64))
    assert affine_probe.response_spread(gamma) == 0.0
    torch.manual_seed(1)
    nn.init.normal_(g.GBlocks[0].fuse1.affine0.fc_gamma.linear2.weight)
    gamma, _ = affine_probe.affine_responses(g, cond)["GBlocks.0.fuse1.affine0"]
    assert affine_probe.response_spread(gamma) > 0
    manual = gamma.std(dim=0, unbiased=False).mean().item()
    assert affine_probe.response_spread(gamma) == pytest.approx(manual)
    with pytest.raises(ValueError, match="no Affine"):
        affine_probe.affine_responses(nn.Linear(2, 2), cond)


@pytest.mark.parametrize("kind", fusion.FUSION_KINDS)
def test_fusion_generators_forward_and_kind(kind):
    torch.manual_seed(0)
    g = fusion.build_fusion_generator(kind, ngf=8, z_dim=8, cond_dim=16, imsize=32)
    assert fusion.fusion_kind(g) == kind
    out = g(torch.randn(2, 8), torch.randn(2, 16))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1
    # everything but the fusion modules is the DF-GAN generator's
    base = NetG(ngf=8, z_dim=8, cond_dim=16, imsize=32)
    non_fuse = lambda net: {k: v.shape for k, v in net.state_dict().items() if ".fuse" not in k}  # noqa: E731
    assert non_fuse(g) == non_fuse(base)


def test_fusion_variant_parameter_counts():
    cond, ch = 24, 8
    assert count_parameters(fusion.SingleAffineFusion(cond, ch)) * 2 == count_parameters(DFBlock(cond, ch))
    assert count_parameters(fusion.ConcatFusion(cond, ch)) == (cond * ch + ch) + (2 * ch * ch + ch)
    with pytest.raises(ValueError, match="unknown fusion kind"):
        fusion.build_fusion_generator("film")


def test_concat_fusion_depends_on_condition_and_single_affine_is_identity_at_init():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 4)
    y = torch.randn(2, 24)
    cat = fusion.ConcatFusion(24, 8)
    assert not torch.allclose(cat(x, y), cat(x, y.flip(0)))
    single = fusion.SingleAffineFusion(24, 8)
    assert torch.allclose(single(x, y), torch.nn.functional.leaky_relu(x, 0.2))
    assert isinstance(single.affine0, Affine)


def test_affine_response_figure_builds():
    f = affine_probe.plot_affine_responses(torch.ones(3, 40), torch.zeros(3, 40), ["x", "y", "z"])
    assert f.axes
    plt.close(f)


def test_randomize_affines_and_channel_curves_kinks():
    torch.manual_seed(0)
    single = affine_probe.randomize_affines(fusion.SingleAffineFusion(8, 4), seed=0)
    dfb = affine_probe.randomize_affines(DFBlock(8, 4), seed=0)
    conds = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    xs = torch.linspace(-3, 3, 601)
    cs = affine_probe.channel_response_curves(single, conds, xs, channels=4)
    cd = affine_probe.channel_response_curves(dfb, conds, xs, channels=4)
    assert cs.shape == cd.shape == (3, 601)
    # the curve is exactly leaky_relu(gamma * x + beta) for the chosen channel
    g, b = single.affine0.gamma_beta(conds)
    manual = torch.nn.functional.leaky_relu(g[:, :1] * xs + b[:, :1], 0.2)
    assert torch.allclose(cs, manual, atol=1e-5)
    assert max(affine_probe.count_kinks(c, xs) for c in cs) <= 1
    assert max(affine_probe.count_kinks(c, xs) for c in cd) <= 2
    assert not torch.allclose(cs[0], cs[1])  # the condition changes the transfer curve
    with pytest.raises(ValueError, match="no Affine"):
        affine_probe.randomize_affines(fusion.ConcatFusion(8, 4))


def test_count_kinks_closed_form():
    xs = torch.linspace(-2, 2, 401)
    assert affine_probe.count_kinks(3 * xs + 1, xs) == 0
    assert affine_probe.count_kinks(torch.relu(xs - 0.503), xs) == 1
    assert affine_probe.count_kinks(torch.relu(xs - 0.5) - torch.relu(xs + 1.0), xs) == 2


def test_caption_effect_zero_for_fresh_affine_generators():
    torch.manual_seed(0)
    sents, noise = torch.randn(3, 16), torch.randn(4, 8)
    for kind in ("dfblock", "affine"):
        g = fusion.build_fusion_generator(kind, ngf=8, z_dim=8, cond_dim=16, imsize=32)
        eff = fusion.caption_effect(g, sents, noise)
        assert eff["caption"] == 0.0 and eff["noise"] > 0
    cat = fusion.build_fusion_generator("concat", ngf=8, z_dim=8, cond_dim=16, imsize=32)
    assert fusion.caption_effect(cat, sents, noise)["caption"] > 0
    g = affine_probe.randomize_affines(fusion.build_fusion_generator("dfblock", ngf=8, z_dim=8, cond_dim=16, imsize=32))
    assert fusion.caption_effect(g, sents, noise)["caption"] > 0
    with pytest.raises(ValueError):
        fusion.caption_effect(g, sents[:1], noise)


def test_train_fusion_variant_tiny_run_is_deterministic():
    from dflib.config import ModelConfig
    from dflib.data import build_dataset
    from dflib.text import BagOfWordsEncoder

    ds = build_dataset("shapes", imsize=32, seed=0, max_objects=1, length=16)
    enc = BagOfWordsEncoder(dim=16)
    cfg = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=16)
    runs = [fusion.train_fusion_variant("affine", ds, enc, cfg, steps=2, batch_size=4, progress=False) for _ in range(2)]
    assert [h["step"] for h in runs[0].history] == [1, 2]
    assert set(runs[0].history[0]) >= {"errD", "errG", "errD_magp"}
    assert runs[0].history == runs[1].history
    assert runs[0].params == count_parameters(runs[0].netG) and fusion.fusion_kind(runs[0].netG) == "affine"
    # after training the affine responses depend on the caption
    cond = runs[0].netG.condition(torch.zeros(3, 8), enc.encode(["a red circle", "a blue star", "a big green box"]).sent)
    gamma, _ = affine_probe.affine_responses(runs[0].netG, cond)["GBlocks.0.fuse1.affine0"]
    assert affine_probe.response_spread(gamma) > 0
    with pytest.raises(ValueError, match="cond_dim"):
        fusion.train_fusion_variant("affine", ds, BagOfWordsEncoder(dim=8), cfg, steps=1, progress=False)
    fig = fusion.plot_fusion_losses(runs, smooth=2)
    fig2 = fusion.plot_attribute_bars({"a": {"color": 0.5, "shape": 0.2}}, {"color": 0.125, "shape": 1 / 6},
                                       {"color": 1.0, "shape": 1.0})
    plt.close(fig)
    plt.close(fig2)


def test_no_text_floor_and_fit_shapes():
    t = torch.stack([torch.full((3, 32, 32), v) for v in (-1.0, 0.0, 1.0)])
    assert fusion.no_text_floor(t) == pytest.approx(2 / 3)
    s = torch.randn(3, 8)
    run = fusion.fit_caption_targets("dfblock", s, t, steps=2, seed=0)
    assert len(run.mse) == 3 and run.images.shape == t.shape and run.kind == "dfblock"
    with pytest.raises(ValueError):
        fusion.fit_caption_targets("film", s, t, steps=1)
    fig = fusion.plot_fit_curves([run], fusion.no_text_floor(t))
    assert fig.axes[0].get_yscale() == "log"


@pytest.mark.slow
def test_fusion_fit_order_holds_for_three_seeds():
    """Notebook 05's full-mode asserts (section 4), on the notebook's own data, for seeds 0, 1 and 2."""
    from dflib.config import get_preset
    from dflib.data import build_dataset
    from dflib.text import BagOfWordsEncoder

    torch.set_num_threads(1)
    opts = {k: v for k, v in get_preset("shapes-32-cpu").data.options.items() if k != "length"}
    ds = build_dataset("shapes", imsize=32, seed=0, **opts)
    items = [ds[i] for i in range(16)]
    targets = torch.stack([it["image"] for it in items])
    sents = BagOfWordsEncoder(dim=64).encode([it["caption"] for it in items]).sent
    floor = fusion.no_text_floor(targets)
    for seed in (0, 1, 2):
        err = {k: fusion.fit_caption_targets(k, sents, targets, steps=300, seed=seed).mse[-1]
               for k in ("concat", "affine", "dfblock")}
        assert err["concat"] > 1.5 * err["dfblock"], (seed, err)
        assert err["affine"] > err["dfblock"], (seed, err)
        assert max(err["affine"], err["dfblock"]) < floor / 5, (seed, err)
