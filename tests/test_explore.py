"""dflib.explore: tables, parameter budgets, Affine responses, fusion variants, sampling helpers (tiny sizes)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
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
    assert count_parameters(explore.ConcatFusion(cond, ch)) == (cond * ch + ch) + (2 * ch * ch + ch)
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


def test_randomize_affines_and_channel_curves_kinks():
    torch.manual_seed(0)
    single = explore.randomize_affines(explore.SingleAffineFusion(8, 4), seed=0)
    dfb = explore.randomize_affines(DFBlock(8, 4), seed=0)
    conds = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))
    xs = torch.linspace(-3, 3, 601)
    cs = explore.channel_response_curves(single, conds, xs, channels=4)
    cd = explore.channel_response_curves(dfb, conds, xs, channels=4)
    assert cs.shape == cd.shape == (3, 601)
    # the curve is exactly leaky_relu(gamma * x + beta) for the chosen channel
    g, b = single.affine0.gamma_beta(conds)
    manual = torch.nn.functional.leaky_relu(g[:, :1] * xs + b[:, :1], 0.2)
    assert torch.allclose(cs, manual, atol=1e-5)
    assert max(explore.count_kinks(c, xs) for c in cs) <= 1
    assert max(explore.count_kinks(c, xs) for c in cd) <= 2
    assert not torch.allclose(cs[0], cs[1])  # the condition changes the transfer curve
    with pytest.raises(ValueError, match="no Affine"):
        explore.randomize_affines(explore.ConcatFusion(8, 4))


def test_count_kinks_closed_form():
    xs = torch.linspace(-2, 2, 401)
    assert explore.count_kinks(3 * xs + 1, xs) == 0
    assert explore.count_kinks(torch.relu(xs - 0.503), xs) == 1
    assert explore.count_kinks(torch.relu(xs - 0.5) - torch.relu(xs + 1.0), xs) == 2


def test_caption_effect_zero_for_fresh_affine_generators():
    torch.manual_seed(0)
    sents, noise = torch.randn(3, 16), torch.randn(4, 8)
    for kind in ("dfblock", "affine"):
        g = explore.build_fusion_generator(kind, ngf=8, nz=8, cond_dim=16, imsize=32)
        eff = explore.caption_effect(g, sents, noise)
        assert eff["caption"] == 0.0 and eff["noise"] > 0
    cat = explore.build_fusion_generator("concat", ngf=8, nz=8, cond_dim=16, imsize=32)
    assert explore.caption_effect(cat, sents, noise)["caption"] > 0
    g = explore.randomize_affines(explore.build_fusion_generator("dfblock", ngf=8, nz=8, cond_dim=16, imsize=32))
    assert explore.caption_effect(g, sents, noise)["caption"] > 0
    with pytest.raises(ValueError):
        explore.caption_effect(g, sents[:1], noise)


def test_train_fusion_variant_tiny_run_is_deterministic():
    from dflib.config import ModelConfig
    from dflib.data import build_dataset
    from dflib.train import BagOfWordsEncoder

    ds = build_dataset("shapes", imsize=32, seed=0, max_objects=1, length=16)
    enc = BagOfWordsEncoder(dim=16)
    cfg = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=16)
    runs = [explore.train_fusion_variant("affine", ds, enc, cfg, steps=2, batch_size=4, progress=False) for _ in range(2)]
    assert [h["step"] for h in runs[0].history] == [1, 2]
    assert set(runs[0].history[0]) >= {"errD", "errG", "errD_magp"}
    assert runs[0].history == runs[1].history
    assert runs[0].params == count_parameters(runs[0].netG) and explore.fusion_kind(runs[0].netG) == "affine"
    # after training the affine responses depend on the caption
    cond = runs[0].netG.condition(torch.zeros(3, 8), enc.encode(["a red circle", "a blue star", "a big green box"]).sent)
    gamma, _ = explore.affine_responses(runs[0].netG, cond)["GBlocks.0.fuse1.affine0"]
    assert explore.response_spread(gamma) > 0
    with pytest.raises(ValueError, match="cond_dim"):
        explore.train_fusion_variant("affine", ds, BagOfWordsEncoder(dim=8), cfg, steps=1, progress=False)
    fig = explore.plot_fusion_losses(runs, smooth=2)
    fig2 = explore.plot_attribute_bars({"a": {"color": 0.5, "shape": 0.2}}, {"color": 0.125, "shape": 1 / 6},
                                       {"color": 1.0, "shape": 1.0})
    plt.close(fig)
    plt.close(fig2)


def test_cosine_similarities_and_nearest_neighbours():
    sent = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 3.0], [-1.0, 0.0]])
    sim = explore.cosine_similarities(sent)
    assert torch.allclose(sim.diagonal(), torch.ones(4)) and torch.allclose(sim, sim.T)
    assert sim[0, 3].item() == pytest.approx(-1.0) and sim[0, 2].item() == pytest.approx(0.0, abs=1e-7)
    assert explore.nearest_neighbours(sim) == [1, 0, 1, 2]
    with pytest.raises(ValueError):
        explore.nearest_neighbours(torch.ones(2, 3))
    figs = [explore.plot_similarity_matrices({"a": sim, "b": sim}, ["w", "x", "y", "z"]),
            explore.plot_word_features(torch.randn(256, 5), ["a", "red", "circle"]),
            explore.plot_retrieval(torch.zeros(2, 3, 8, 8), [["x", "y"], ["y", "x"]], ["x", "x"])]
    for f in figs:
        assert f.axes
        plt.close(f)


def test_images_to_array_layout():
    imgs = torch.stack([torch.full((3, 2, 2), v) for v in (-1.0, 1.0, 0.0)])
    arr = explore.images_to_array(imgs, nrow=2, pad=1)
    assert arr.shape == (2 * 3 + 1, 2 * 3 + 1, 3)
    assert (arr[1:3, 1:3] == 0).all() and (arr[1:3, 4:6] == 1).all() and np.allclose(arr[4:6, 1:3], 0.5)
    assert (arr[0] == 1).all() and (arr[4:6, 4:6] == 1).all()  # padding and the empty slot stay white
    with pytest.raises(ValueError):
        explore.images_to_array(torch.zeros(3, 2, 2), nrow=2)


def test_find_run(tmp_path, monkeypatch):
    monkeypatch.delenv("DFGAN_RUN", raising=False)
    assert explore.find_run(patterns=[str(tmp_path / "run-*")]) is None
    old, new = tmp_path / "run-a", tmp_path / "run-b"
    for d in (old, new):
        d.mkdir()
        (d / "state_step_00000010.pth").write_bytes(b"x")
    (tmp_path / "run-c").mkdir()  # no checkpoint: ignored
    import os as _os

    _os.utime(old, (1, 1))
    assert explore.find_run(patterns=[str(tmp_path / "run-*")]) == new
    monkeypatch.setenv("DFGAN_RUN", str(old))
    assert explore.find_run() == old
    monkeypatch.setenv("DFGAN_RUN", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match="DFGAN_RUN"):
        explore.find_run()


def test_render_samples_and_widget_and_progress_figures():
    from dflib.train import BagOfWordsEncoder

    torch.manual_seed(0)
    g = explore.randomize_affines(NetG(ngf=4, nz=8, cond_dim=16, imsize=32))
    enc = BagOfWordsEncoder(dim=16)
    fig = explore.render_samples(g, enc, "a red circle", seed=1, truncation=0.5, n=3)
    assert len(fig.axes) == 3
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        explore.render_samples(g, enc, "   ")
    app = explore.make_sampling_widget(g, enc, n=2)
    assert app.renders == 1 and app.last_png.startswith(b"\x89PNG")
    app.controls["seed"].value = 5
    app.controls["caption"].value = "a blue star"
    assert app.renders == 3
    app.controls["caption"].value = ""  # error is shown in the app, not raised
    assert app.renders == 3 and "empty" in app.status.value
    hist = [{"step": s, "errD": 1.0 / s, "errG": 0.5} for s in (10, 20, 30)]
    figs = [explore.plot_training_progress(hist, torch.zeros(6, 3, 8, 8), nrow=3),
            explore.plot_interpolation(torch.zeros(8, 3, 8, 8), steps=4, left="a", right="b")]
    for f in figs:
        plt.close(f)
    with pytest.raises(ValueError, match="rows of 3"):
        explore.plot_interpolation(torch.zeros(8, 3, 8, 8), steps=3, left="a", right="b")


def test_config_diff():
    from dflib.config import apply_overrides, get_preset

    a = get_preset("shapes-32-cpu")
    b = apply_overrides(a, {"batch_size": 3, "model.ngf": 8, "data.options.length": 10})
    diff = explore.config_diff(a, b)
    assert diff["batch_size"] == (a.batch_size, 3) and diff["model.ngf"] == (16, 8)
    assert diff["data.options"][1]["length"] == 10
    assert explore.config_diff(a, a) == {}
    assert explore.config_diff({"x": {"y": 1}}, {"x": {"y": 2}, "z": 0}) == {"x.y": (1, 2), "z": (None, 0)}
