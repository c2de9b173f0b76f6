"""dfcourse.exercises: every check passes a right answer, says what is wrong with a wrong one, and reports an
untouched stub as not written (without failing the cell)."""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import torch

from dflib.config import apply_overrides, build_models, get_preset
from dflib.data.vocab import tokenize
from dflib.fast import affine_layers, resolve_fast
from dflib.metrics import feature_frechet_distance
from dflib.metrics.inception_score import inception_score
from dflib.models import count_parameters, g_channel_pairs
from dflib.step import Nets, build_optimizers, train_step
from dfcourse import exercises as ex
from dflib.text import RNNEncoder
from dfdamsm.loss import sentence_loss


def stub(*args, **kwargs):
    raise NotImplementedError


def test_check_reports_stub_right_and_wrong(capsys):
    assert ex.check("e", ex.verify_g_channels, stub) is None
    assert "not written yet" in capsys.readouterr().out
    assert ex.check("e", ex.verify_g_channels, g_channel_pairs) is True
    assert "correct" in capsys.readouterr().out
    with pytest.raises(ex.ExerciseError, match=r"e: nf=16, imsize=32"):
        ex.check("e", ex.verify_g_channels, lambda nf, s: g_channel_pairs(nf, s)[:-1])
    with pytest.raises(ex.ExerciseError, match="yours 3, expected 4"):
        ex.check("e", lambda: ex.verify_equal(3, 4, "count"))


def test_06_checks():
    from dflib.models import Affine, GBlock

    ex.verify_param_formulas(lambda cond, c: count_parameters(Affine(cond, c)),
                             lambda cond, i, o: count_parameters(GBlock(cond, i, o)))
    with pytest.raises(ex.ExerciseError, match="shortcut"):
        ex.verify_param_formulas(lambda cond, c: count_parameters(Affine(cond, c)),
                                 lambda cond, i, o: count_parameters(GBlock(cond, i, i)) + 1)
    _, netD, netC = build_models(get_preset("shapes-32-cpu").model)
    f, s = torch.randn(2, netC.joint_conv[0].in_channels - 384, 4, 4), torch.randn(2, 384)
    ex.verify_netc(lambda a, b: netC(a, b), netC, f, s)
    with pytest.raises(ex.ExerciseError, match="image features first"):
        ex.verify_netc(lambda a, b: netC(a, b) + 1, netC, f, s)


def test_07_checks():
    ex.verify_tokenizer(tokenize)
    with pytest.raises(ex.ExerciseError, match="on 'naïve café"):
        ex.verify_tokenizer(lambda t: re.findall(r"\w+", t.lower()))
    ex.verify_rnn_params(lambda n: count_parameters(RNNEncoder(n)))
    with pytest.raises(ex.ExerciseError, match="off by"):
        ex.verify_rnn_params(lambda n: n * 300)
    ex.verify_sentence_loss(lambda c, s, g: sum(sentence_loss(c, s, None, g)[:2]))
    with pytest.raises(ex.ExerciseError, match="gamma3"):
        ex.verify_sentence_loss(lambda c, s, g: sentence_loss(c, s, None, g)[0])


def test_08_checks():
    cfg = apply_overrides(get_preset("shapes-32-cpu"), {"model.ngf": 8, "model.ndf": 8})
    torch.manual_seed(0)
    start = Nets(*(n.double() for n in build_models(cfg.model)))
    ref = copy.deepcopy(start)
    inputs = (torch.rand(4, 3, 32, 32).double() * 2 - 1, torch.randn(4, 384).double(),
              torch.randn(4, cfg.model.z_dim).double())
    train_step(ref, build_optimizers(ref, cfg.lr_g, cfg.lr_d), *inputs)

    def same_as_reference(*args, k=2.0, p=6.0):
        train_step(args[:3], args[3:5], *args[5:], k=k, p=p)

    with pytest.raises(ex.ExerciseError, match="G's gradient equals the reference"):
        ex.verify_old_d_step(same_as_reference, start, ref, inputs, cfg)
    ex.verify_same_weights(ref.netG, copy.deepcopy(ref.netG), "G")
    with pytest.raises(ex.ExerciseError, match="tensors differ"):
        ex.verify_same_weights(ref.netG, start.netG, "G")
    ex.verify_prediction("larger", "larger", ("larger", "smaller"), "why")
    with pytest.raises(ex.ExerciseError, match="you predicted 'smaller'"):
        ex.verify_prediction("smaller", "larger", ("larger", "smaller"), "why")
    with pytest.raises(ex.ExerciseError, match="answer one of"):
        ex.verify_prediction("bigger", "larger", ("larger", "smaller"), "why")


def test_09_checks():
    from scipy.stats import truncnorm

    ex.verify_truncated_std(lambda t: truncnorm.std(-2, 2) * t)
    with pytest.raises(ex.ExerciseError, match="t=0.25"):
        ex.verify_truncated_std(lambda t: t)
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(50, 4)), rng.normal(1, 1, size=(50, 4))
    ex.verify_frechet(feature_frechet_distance, f1, f2)
    with pytest.raises(ex.ExerciseError, match="yours"):
        ex.verify_frechet(lambda a, b: float(((a.mean(0) - b.mean(0)) ** 2).sum()), f1, f2)
    ex.verify_inception_score(lambda p: inception_score(p, splits=1)[0])
    with pytest.raises(ex.ExerciseError, match="one-hot"):
        ex.verify_inception_score(lambda p: float(p.shape[1]) - 1)


def test_appendix_checks():
    want = {(s, d): resolve_fast(s, d).enabled() for s in ("on", "batched_affine") for d in ("cpu", "cuda")}
    ex.verify_enabled(want)
    with pytest.raises(ex.ExerciseError, match="--fast on on cuda"):
        ex.verify_enabled({**want, ("on", "cuda"): ["batched_affine"]})

    def products(g):
        aff = affine_layers(g)
        return 4 * len(aff), 1 + len({a.fc_gamma.linear1.out_features for a in aff})

    ex.verify_affine_products(products)
    with pytest.raises(ex.ExerciseError, match="32 px"):
        ex.verify_affine_products(lambda g: (2 * len(affine_layers(g)), 2))
