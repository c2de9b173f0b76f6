"""Losses and penalties against closed forms and hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dflib import losses as L
from dflib.models import NetC, NetD, NetG

torch.set_num_threads(1)


def test_hinge_values_by_hand():
    real = torch.tensor([2.0, 0.5, -1.0])   # relu(1-x) = 0, 0.5, 2   -> mean 2.5/3
    fake = torch.tensor([-2.0, 0.0, 1.0])   # relu(1+x) = 0, 1, 2     -> mean 1
    mis = torch.tensor([0.5, -0.5, -3.0])   # relu(1+x) = 1.5, .5, 0  -> mean 2/3
    assert L.hinge_real(real).item() == pytest.approx(2.5 / 3)
    assert L.hinge_fake(fake).item() == pytest.approx(1.0)
    assert L.hinge_d_loss(real, fake, mis).item() == pytest.approx(2.5 / 3 + (1.0 + 2 / 3) / 2)
    assert L.hinge_d_loss(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert L.hinge_g_loss(fake).item() == pytest.approx(1 / 3)  # -mean(-2, 0, 1)


def test_bce_and_wgan_values_by_hand():
    r, f = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731
    assert L.bce_d_loss(r, f).item() == pytest.approx((sp(0) + sp(-2)) / 2 + (sp(0) + sp(-1)) / 2)
    assert L.bce_g_loss(f).item() == pytest.approx((sp(0) + sp(1)) / 2)
    assert L.bce_g_loss_saturating(f).item() == pytest.approx(-(sp(0) + sp(-1)) / 2)
    assert L.wgan_d_loss(r, f).item() == pytest.approx(-0.5 - 1.0)
    assert L.wgan_g_loss(f).item() == pytest.approx(0.5)
    assert set(L.LOSSES) == {"bce", "wgan", "hinge"}


def test_roll_mismatch_never_pairs_an_image_with_its_own_caption():
    f = torch.arange(5.0).view(5, 1, 1, 1)
    rolled = L.roll_mismatch(f)
    assert rolled.flatten().tolist() == [1, 2, 3, 4, 0]
    assert all(rolled[i].item() != i for i in range(5))
    with pytest.raises(ValueError, match="at least 2"):
        L.roll_mismatch(f[:1])


class LinearCritic(nn.Module):
    """D(x, s) = w . x + v . s, whose input gradients are constant: (w, v)."""

    def __init__(self, dx, ds, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(dx, generator=g, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(ds, generator=g, dtype=torch.float64))

    def forward(self, x, s):
        return x.flatten(1) @ self.w + s @ self.v


@pytest.mark.parametrize("k, p", [(2.0, 6.0), (1.0, 2.0), (0.5, 3.0)])
def test_ma_gp_closed_form_for_linear_critic(k, p):
    D = LinearCritic(12, 5)
    x = torch.randn(4, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    s = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    out = D(x, s)
    w2, v2 = D.w.pow(2).sum(), D.v.pow(2).sum()
    expected = k * (w2 + v2) ** (p / 2)
    torch.testing.assert_close(L.ma_gp(out, x, s, k=k, p=p), expected)
    # zero-centred GP / R1 on the image only: k |w|^p and gamma/2 |w|^2
    torch.testing.assert_close(L.zero_centred_gp(out, x, k=k, p=p), k * w2 ** (p / 2))
    torch.testing.assert_close(L.r1_penalty(out, x, gamma=10.0), 5.0 * w2)


def test_ma_gp_default_is_k2_p6_and_norm_of_concatenation_not_sum_of_norms():
    D = LinearCritic(3, 2, seed=3)
    with torch.no_grad():
        D.w.copy_(torch.tensor([3.0, 0.0, 0.0]))
        D.v.copy_(torch.tensor([0.0, 4.0]))
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    s = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    val = L.ma_gp(D(x, s), x, s)
    assert val.item() == pytest.approx(2 * 5.0**6)  # ||(3,0,0,0,4)|| = 5, not 3 + 4 = 7


def test_penalty_is_per_sample_mean_of_powers():
    # D(x) = 0.5 * c_i * x_i^2 summed -> grad_i = c * x_i: norms differ per sample
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64, requires_grad=True)
    s = torch.zeros(2, 1, dtype=torch.float64, requires_grad=True)
    out = 0.5 * x.pow(2).sum(1) + 0 * s.sum(1)
    assert L.ma_gp(out, x, s, k=1.0, p=2.0).item() == pytest.approx((1 + 4) / 2)  # mean, not (mean norm)^p


def test_gradcheck_through_ma_gp():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6 + 3, 5), nn.Tanh(), nn.Linear(5, 1)).double()

    def penalty(x, s):
        out = net(torch.cat([x, s], 1))
        return L.ma_gp(out, x, s, k=2.0, p=6.0)

    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    s = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(penalty, (x, s))


def test_penalty_requires_grad_inputs_with_clear_error():
    x, s = torch.randn(2, 3), torch.randn(2, 2)
    with pytest.raises(ValueError, match="requires_grad_"):
        L.ma_gp(x.sum(1), x, s)


def test_ma_gp_gradient_reaches_d_and_c_not_g():
    torch.manual_seed(0)
    g, d, c = NetG(ngf=4, z_dim=8, cond_dim=6, imsize=32), NetD(ndf=4, imsize=32), NetC(ndf=4, cond_dim=6)
    with torch.no_grad():  # switch on the residual branches so every D parameter matters
        for blk in d.DBlocks:
            blk.gamma.fill_(0.5)
    s = torch.randn(3, 6)
    fake = g(torch.randn(3, 8), s)
    real = fake.detach().clone().requires_grad_()
    sent = s.detach().clone().requires_grad_()
    out = c(d(real), sent)
    L.ma_gp(out, real, sent).backward()
    assert all(p.grad is None for p in g.parameters())
    # Input gradients of a piecewise-linear D do not depend on its biases (their grads are exactly 0),
    # but every weight and every residual gamma receives a non-zero penalty gradient.
    d_grads = {n: p.grad for n, p in d.named_parameters() if not n.endswith("bias")}
    assert all(gr is not None and gr.abs().sum() > 0 for gr in d_grads.values()), d_grads.keys()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in c.parameters())


def test_penalty_gradient_is_finite_where_the_input_gradient_vanishes():
    # D(x) = psi * x with psi = 0: ||grad_x D|| = 0; d(penalty)/d psi must be 0, not NaN (sqrt at 0)
    psi = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    x = torch.ones(2, 1, dtype=torch.float64, requires_grad=True)
    s = torch.ones(2, 1, dtype=torch.float64, requires_grad=True)
    for pen in (lambda o: L.ma_gp(o, x, s), lambda o: L.zero_centred_gp(o, x), lambda o: L.r1_penalty(o, x)):
        out = (psi * x).sum(1) + 0 * (psi * s).sum(1)
        (g,) = torch.autograd.grad(pen(out), psi)
        assert torch.isfinite(g).all() and g.item() == 0.0
