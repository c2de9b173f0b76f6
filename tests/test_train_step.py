"""The DF-GAN training step against a hand-written reference on tiny networks.

Paper Sec. 3.2 (Eq. 1) and Sec. 3.3.1 (Eq. 2); the order and weights as coded: docs/official_behaviour.md §6–§9."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dflib.config import ModelConfig, build_models
from dflib.step import Nets, build_optimizers, losses_to_floats, train_step

torch.set_num_threads(1)

CFG = ModelConfig(imsize=32, ngf=2, ndf=2, z_dim=4, cond_dim=6)
B = 3


def _tiny(seed=0):
    torch.manual_seed(seed)
    nets = [n.double() for n in build_models(CFG)]
    # gamma starts at 0 in every D block, which would hide the residual branch: make it non-zero
    with torch.no_grad():
        for blk in nets[1].DBlocks:
            blk.gamma.fill_(0.5)
    return nets


def _batch(seed):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(B, 3, 32, 32, generator=g, dtype=torch.float64) * 2 - 1
    sent = torch.randn(B, CFG.cond_dim, generator=g, dtype=torch.float64)
    noise = torch.randn(B, CFG.z_dim, generator=g, dtype=torch.float64)
    return images, sent, noise


class ManualAdam:
    """Adam written out (Kingma & Ba Alg. 1) with betas (0, 0.9), eps 1e-8, no weight decay."""

    def __init__(self, params, lr, b1=0.0, b2=0.9, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = list(params), lr, b1, b2, eps
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = [0 for _ in self.params]

    def step(self, grads):
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(self.params, grads)):
                if g is None:  # parameters without a gradient (unused conv_s) are skipped
                    continue
                self.t[i] += 1
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * g
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * g * g
                mh = self.m[i] / (1 - self.b1 ** self.t[i])
                vh = self.v[i] / (1 - self.b2 ** self.t[i])
                p -= self.lr * mh / (vh.sqrt() + self.eps)


def reference_step(G, D, C, optG, optD, images, sent, noise):
    """docs/official_behaviour.md §8: D loss = real + (fake + mismatch)/2 + 2 mean ||[gx; gs]||^6, then G."""
    x = images.clone().requires_grad_(True)
    s = sent.clone().requires_grad_(True)
    feats = D(x)
    out_real = C(feats, s)
    l_real = F.relu(1.0 - out_real).mean()
    l_mis = F.relu(1.0 + C(torch.cat((feats[1:], feats[0:1]), dim=0), s)).mean()
    fake = G(noise, s)
    l_fake = F.relu(1.0 + C(D(fake.detach()), s)).mean()
    gx, gs = torch.autograd.grad(out_real, (x, s), torch.ones_like(out_real), retain_graph=True, create_graph=True)
    norm = torch.sqrt(torch.cat((gx.reshape(B, -1), gs.reshape(B, -1)), 1).pow(2).sum(1))
    l_gp = 2.0 * norm.pow(6).mean()
    err_d = l_real + (l_fake + l_mis) / 2 + l_gp
    dparams = list(D.parameters()) + list(C.parameters())
    grads = torch.autograd.grad(err_d, dparams, allow_unused=True, retain_graph=True)
    optD.step(grads)
    err_g = -C(D(fake), s).mean()  # with the just-updated D
    ggrads = torch.autograd.grad(err_g, list(G.parameters()), allow_unused=True)
    optG.step(ggrads)
    return {"errD": err_d.item(), "errD_real": l_real.item(), "errD_fake": l_fake.item(),
            "errD_mis": l_mis.item(), "errD_magp": l_gp.item(), "errG": err_g.item()}


def test_two_steps_match_hand_written_reference():
    G, D, C = _tiny()
    rG, rD, rC = (copy.deepcopy(n) for n in (G, D, C))
    nets = Nets(G, D, C)
    opts = build_optimizers(nets)  # paper settings: lr 1e-4 / 4e-4, betas (0, 0.9)
    ref_g = ManualAdam(rG.parameters(), 1e-4)
    ref_d = ManualAdam(list(rD.parameters()) + list(rC.parameters()), 4e-4)
    for seed in (1, 2):  # two steps so that beta2 = 0.9 and the moments matter
        images, sent, noise = _batch(seed)
        got = losses_to_floats(train_step(nets, opts, images, sent, noise=noise))
        want = reference_step(rG, rD, rC, ref_g, ref_d, images, sent, noise)
        for k in want:
            assert got[k] == pytest.approx(want[k], rel=1e-9, abs=1e-12), k
        assert want["errD_magp"] > 0
    for a, b in ((G, rG), (D, rD), (C, rC)):
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-9, atol=1e-12, msg=name)
    # and the step really moved every used parameter (lr * sign(g) at step 1)
    G0, D0, _ = _tiny()
    assert not torch.equal(G.fc.weight, G0.fc.weight)
    assert not torch.equal(D.conv_img.weight, D0.conv_img.weight)


def test_step_returns_detached_tensors_and_is_seeded_by_generator():
    G, D, C = _tiny()
    nets, opts = Nets(G, D, C), build_optimizers(Nets(G, D, C))
    images, sent, _ = _batch(3)
    out = train_step(nets, opts, images, sent, generator=torch.Generator().manual_seed(0))
    assert set(out) == {"errD", "errD_real", "errD_fake", "errD_mis", "errD_magp", "errG"}
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 and not v.requires_grad for v in out.values())
    # same generator seed -> same noise -> same result
    G2, D2, C2 = _tiny()
    nets2 = Nets(G2, D2, C2)
    out2 = train_step(nets2, build_optimizers(nets2), images, sent, generator=torch.Generator().manual_seed(0))
    assert losses_to_floats(out) == losses_to_floats(out2)


def test_unused_conv_s_is_left_alone():
    """At 64 px the last D block keeps its width: its conv_s gets no gradient and does not move."""
    torch.manual_seed(0)
    G, D, C = build_models(ModelConfig(imsize=64, ngf=2, ndf=2, z_dim=4, cond_dim=6))
    same = [b for b in D.DBlocks if not b.learned_shortcut]
    assert len(same) == 1
    before = same[0].conv_s.weight.detach().clone()
    nets = Nets(G, D, C)
    train_step(nets, build_optimizers(nets), torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 6),
               generator=torch.Generator().manual_seed(0))
    assert same[0].conv_s.weight.grad is None
    assert torch.equal(same[0].conv_s.weight, before)


def test_optimiser_settings_follow_the_paper():
    G, D, C = _tiny()
    opts = build_optimizers(Nets(G, D, C))
    gG, gD = opts.optimizer_G.param_groups[0], opts.optimizer_D.param_groups[0]
    assert (gG["lr"], gG["betas"]) == (1e-4, (0.0, 0.9))
    assert (gD["lr"], gD["betas"]) == (4e-4, (0.0, 0.9))
    assert gD["params"] == list(D.parameters()) + list(C.parameters())  # one optimiser, D then C
