"""dflib.teach.conditional: the (x, e) toy of MA-GP, its penalties and its critic."""

import numpy as np
import pytest
import torch

from dflib import losses as L
from dflib.teach import conditional


@pytest.mark.parametrize("k,p", [(2.0, 6.0), (1.0, 2.0), (0.5, 3.0)])
def test_ma_gp_of_linear_critic(k, p):
    w, v = torch.tensor([0.3, -0.2, 0.1]), torch.tensor([0.5, 0.4])
    D = conditional.LinearCritic(w, v)
    x, e = torch.randn(6, 3), torch.randn(6, 2)
    expected = k * (w.pow(2).sum() + v.pow(2).sum()) ** (p / 2)
    assert float(conditional.conditional_penalty(D, x, e, "ma_gp", k, p).detach()) == pytest.approx(float(expected), rel=1e-5)
    assert float(conditional.conditional_penalty(D, x, e, "zero_gp", k, p).detach()) == pytest.approx(
        float(k * w.pow(2).sum() ** (p / 2)), rel=1e-5)
    assert float(conditional.conditional_penalty(D, x, e, "none")) == 0.0


def test_conditional_data_and_mismatch():
    g = torch.Generator().manual_seed(0)
    x, e = conditional.sample_conditional(100, g, noise=0.0)
    torch.testing.assert_close(x, e)
    mis = L.roll_mismatch(x)
    assert not torch.isclose(mis, e).all(dim=1).any()


def test_ma_gp_smooths_the_text_direction():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(5)
    x, e = conditional.sample_conditional(256, g, slope=2.0)
    norms = {}
    for pen in ("none", "zero_gp", "ma_gp"):
        run = conditional.train_conditional_critic(conditional.CondToyConfig(penalty=pen, steps=300, slope=2.0))
        norms[pen] = conditional.conditional_grad_norms(run.D, x, e)
    assert norms["zero_gp"]["x"] < norms["none"]["x"]
    assert norms["ma_gp"]["e"] < 0.6 * min(norms["none"]["e"], norms["zero_gp"]["e"])
    xs, es, z = conditional.conditional_surface(run.D, res=11, kind="real_loss")
    assert z.shape == (11, 11) and (z >= 0).all() and xs[-1] == 3.0 and es[-1] == 1.5


def test_conditional_slices_of_linear_critic():
    D = conditional.LinearCritic(torch.tensor([2.0]), torch.tensor([-1.0]))
    t, ax, ae = conditional.conditional_slices(D, 0.5, 0.25, half_width=1.0, n=5)
    np.testing.assert_allclose(t, [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_allclose(ax, 2 * (0.5 + t) - 0.25, atol=1e-6)
    np.testing.assert_allclose(ae, 1.0 - (0.25 + t), atol=1e-6)
