"""Checks for the exercises of notebooks 06-10: each runs the learner's code and says what is wrong.

An exercise in a notebook is three cells: a stub the learner fills in (it raises ``NotImplementedError``
until then), a check that calls :func:`check` with one of the ``verify_*`` functions below, and the solution
(a cell tagged ``solution``, collapsed on the site) that defines its own function and runs the same check on
it, so that CI runs every solution. :func:`check` prints "not written yet" for an untouched stub (the check
cell then runs without error), "correct" with what was compared, or raises :class:`ExerciseError` saying
what differs.

Introduced in ``notebooks/06_generator_and_discriminator.ipynb``; used in ``07``, ``08``, ``09``, ``10``
and the appendix ``A1``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["ExerciseError", "check", "verify_equal", "verify_g_channels", "verify_param_formulas",
           "verify_netc", "verify_tokenizer", "verify_rnn_params", "verify_sentence_loss",
           "verify_old_d_step", "verify_same_weights", "verify_prediction", "verify_truncated_std",
           "verify_frechet", "verify_inception_score", "verify_enabled", "verify_affine_products"]


class ExerciseError(AssertionError):
    """The learner's answer ran but is wrong; the message says how."""


def check(label: str, verify: Callable[..., str], *args: Any, **kwargs: Any) -> bool | None:
    """Run ``verify(*args, **kwargs)`` on the learner's code. Prints ``label: correct (...)`` and returns
    True; prints ``label: not written yet`` and returns None when the stub still raises
    ``NotImplementedError``; raises :class:`ExerciseError` with what is wrong otherwise."""
    try:
        what = verify(*args, **kwargs)
    except NotImplementedError:
        print(f"{label}: not written yet (the stub raises NotImplementedError); write it, then run this "
              "cell again")
        return None
    except AssertionError as exc:  # ExerciseError included: say which exercise
        raise ExerciseError(f"{label}: {exc}") from None
    print(f"{label}: correct ({what})")
    return True


def _fail(msg: str) -> None:
    raise ExerciseError(msg)


def verify_equal(mine: Any, expected: Any, what: str) -> str:
    """Equal values (numbers to 1e-9 relative), or an error showing both."""
    if isinstance(expected, float) or isinstance(mine, float):
        if mine is None or abs(float(mine) - float(expected)) > 1e-9 * max(1.0, abs(float(expected))):
            _fail(f"{what}: yours {mine!r}, expected {expected!r}")
    elif mine != expected:
        _fail(f"{what}: yours {mine!r}, expected {expected!r}")
    return what


# ------------------------------------------------------------------------------------------------- 06
def verify_g_channels(fn: Callable[[int, int], list]) -> str:
    """``fn(nf, imsize)`` must equal :func:`dflib.models.g_channel_pairs` for nf 16 and 32, 32-512 px."""
    from dflib.models import g_channel_pairs

    for nf in (16, 32):
        for size in (32, 64, 128, 256, 512):
            mine, ref = fn(nf, size), g_channel_pairs(nf, size)
            if list(map(tuple, mine)) != list(ref):
                _fail(f"nf={nf}, imsize={size}: yours {mine}, expected {ref} "
                      f"({len(ref)} blocks; the first starts at nf*8 = {nf * 8})")
    return "every (nf, imsize) of 16/32 x 32-512 px"


def verify_param_formulas(affine_fn: Callable[[int, int], int], gblock_fn: Callable[[int, int, int], int]) -> str:
    """``affine_fn(cond, C)`` and ``gblock_fn(cond, cin, cout)`` must equal ``count_parameters``."""
    from dflib.models import Affine, GBlock, count_parameters, g_channel_pairs

    for cond, c in ((356, 64), (256, 32), (100, 7)):
        mine, ref = affine_fn(cond, c), count_parameters(Affine(cond, c))
        if mine != ref:
            _fail(f"Affine({cond}, {c}): yours {mine:,}, count_parameters {ref:,} (two MLPs, each "
                  "Linear(cond, C) then Linear(C, C), with biases)")
    for cin, cout in g_channel_pairs(32, 256):
        mine, ref = gblock_fn(356, cin, cout), count_parameters(GBlock(356, cin, cout))
        if mine != ref:
            _fail(f"GBlock(356, {cin}, {cout}): yours {mine:,}, count_parameters {ref:,} (off by "
                  f"{mine - ref:+,}; a 1x1 shortcut with bias exists only when in != out)")
    return "Affine at three sizes, every GBlock of the 256 px generator"


def verify_netc(fn: Callable[[Tensor, Tensor], Tensor], netC: torch.nn.Module, features: Tensor,
                sentence: Tensor) -> str:
    """``fn(features, sentence)`` must equal ``netC(features, sentence)``."""
    with torch.no_grad():
        mine, ref = fn(features, sentence), netC(features, sentence)
    if tuple(mine.shape) != tuple(ref.shape):
        _fail(f"shape {tuple(mine.shape)}, expected {tuple(ref.shape)}")
    diff = (mine - ref).abs().max().item()
    if diff > 1e-5:
        _fail(f"values differ by up to {diff:.2e}: are the image features first and the sentence second?")
    return f"largest difference {diff:.1e}"


# ------------------------------------------------------------------------------------------------- 07
AWKWARD = ["A Red-bird!", "naïve café, 2 birds", "  ", "über_cool   BIRD", "it's  a BIG,big bird", "été"]


def verify_tokenizer(fn: Callable[[str], list[str]]) -> str:
    """``fn`` must equal :func:`dflib.data.vocab.tokenize` on awkward strings."""
    from dflib.data.vocab import tokenize

    for s in AWKWARD:
        mine, ref = fn(s), tokenize(s)
        if mine != ref:
            _fail(f"on {s!r}: yours {mine}, expected {ref}")
    return f"{len(AWKWARD)} awkward strings"


def verify_rnn_params(fn: Callable[[int], int]) -> str:
    """``fn(n_words)`` must equal ``count_parameters(RNNEncoder(n_words))`` (CUB, COCO and a tiny one)."""
    from dflib.models import count_parameters
    from dflib.text import RNNEncoder

    for n in (5450, 27297, 10):
        mine, ref = fn(n), count_parameters(RNNEncoder(n))
        if mine != ref:
            _fail(f"{n} words: yours {mine:,}, expected {ref:,} (off by {mine - ref:+,})")
    return "5,450 (CUB), 27,297 (COCO) and 10 words"


def verify_sentence_loss(fn: Callable[..., Tensor], seed: int = 0) -> str:
    """``fn(code, sent, gamma3)`` must equal the sum of the two directions of
    :func:`dfdamsm.loss.sentence_loss` (no class mask) on random codes."""
    from dfdamsm.loss import sentence_loss

    g = torch.Generator().manual_seed(seed)
    code, sent = torch.randn(6, 16, generator=g), torch.randn(6, 16, generator=g)
    for gamma3 in (10.0, 1.0):
        ref = sum(sentence_loss(code, sent, None, gamma3)[:2])
        mine = fn(code, sent, gamma3)
        if not torch.is_tensor(mine) or mine.numel() != 1:
            _fail(f"return one number (a 0-d tensor), got {mine!r}")
        if abs(float(mine) - float(ref)) > 1e-5 * max(1.0, abs(float(ref))):
            _fail(f"gamma3={gamma3}: yours {float(mine):.5f}, expected {float(ref):.5f} (the cross-entropy of "
                  "gamma3 * cos over each row, plus the same over each column, both averaged over the batch)")
    return "gamma3 = 10 and 1, six random pairs"


# ------------------------------------------------------------------------------------------------- 08
def verify_old_d_step(fn: Callable[..., Any], start, ref, inputs: Sequence[Tensor], cfg) -> str:
    """``fn`` = the hand-written step with G's loss taken *before* D's update: from ``start`` it must give
    D and C the same weights as the reference step ``ref`` did, and G another gradient."""
    import copy

    from dflib.step import build_optimizers

    nets = copy.deepcopy(start)
    opts = build_optimizers(nets, cfg.lr_g, cfg.lr_d, (cfg.beta1, cfg.beta2))
    fn(*nets, *opts, *inputs, k=cfg.magp_k, p=cfg.magp_p)
    out = {}
    for name, na, nb in zip(("netG", "netD", "netC"), nets, ref):
        pairs = list(zip(na.parameters(), nb.parameters()))
        if any(qa.grad is None for qa, _ in pairs):
            _fail(f"{name} has parameters without a gradient: did the step run both backward passes?")
        out[name] = (max((qa - qb).abs().max().item() for qa, qb in pairs),
                     max((qa.grad - qb.grad).abs().max().item() for qa, qb in pairs))
    if out["netD"][0] > 1e-12 or out["netC"][0] > 1e-12:
        _fail(f"D's or C's weights differ from the reference step by {max(out['netD'][0], out['netC'][0]):.1e}: "
              "the D update itself must stay the same (same loss, one backward, one Adam step)")
    if out["netG"][1] < 1e-6:
        _fail("G's gradient equals the reference's: G's loss must be computed before opt_d.step()")
    return (f"D and C weights as the reference (up to {max(out['netD'][0], out['netC'][0]):.1e}); G's gradient "
            f"differs by up to {out['netG'][1]:.1e}")


def verify_same_weights(mine: torch.nn.Module, ref: torch.nn.Module, what: str) -> str:
    """Every tensor of ``mine.state_dict()`` equal to ``ref``'s, bit for bit."""
    a, b = mine.state_dict(), ref.state_dict()
    if list(a) != list(b):
        _fail(f"{what}: other parameter names ({len(a)} vs {len(b)} tensors)")
    bad = [k for k in a if not torch.equal(a[k].cpu(), b[k].cpu())]
    if bad:
        _fail(f"{what}: {len(bad)} of {len(a)} tensors differ, e.g. {bad[0]}")
    return f"{what}: all {len(a)} tensors identical"


def verify_prediction(mine: Any, expected: Any, options: Sequence[Any], why: str) -> str:
    """A prediction among ``options``: it must be one of them and equal to ``expected``."""
    if mine not in options:
        _fail(f"answer one of {list(options)}, got {mine!r}")
    if mine != expected:
        _fail(f"you predicted {mine!r}, the measurement says {expected!r}: {why}")
    return f"{mine!r}: {why}"


# ------------------------------------------------------------------------------------------------- 09
def verify_truncated_std(fn: Callable[[float], float]) -> str:
    """``fn(t)`` = the standard deviation of ``truncated_noise(..., truncation=t)``; checked against the
    closed form and a sample of 20,000 x 16 values."""
    from scipy.stats import truncnorm

    from dflib.noise import truncated_noise

    for t in (0.25, 0.5, 0.88, 1.0):
        mine = float(fn(t))
        closed = truncnorm.std(-2, 2) * t
        z = truncated_noise(20_000, 16, truncation=t, seed=0)
        if abs(mine - closed) > 1e-6:
            _fail(f"t={t}: yours {mine:.5f}, the truncated normal's std times t is {closed:.5f} "
                  f"(a sample gives {z.std().item():.5f})")
    return "t = 0.25, 0.5, 0.88, 1 against scipy's closed form"


def verify_frechet(fn: Callable[[np.ndarray, np.ndarray], float], f1: np.ndarray, f2: np.ndarray) -> str:
    """``fn(f1, f2)`` must equal :func:`dflib.metrics.feature_frechet_distance` (to 1e-4 relative)."""
    from dflib.metrics import feature_frechet_distance

    mine, ref = float(fn(f1, f2)), feature_frechet_distance(f1, f2)
    if not np.isfinite(mine) or abs(mine - ref) > 1e-4 * max(1.0, abs(ref)):
        _fail(f"yours {mine:.6f}, dflib {ref:.6f}: |mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)), with the "
              "real part of the square root and covariances with n - 1")
    return f"{mine:.4f} = dflib's {ref:.4f}"


def verify_inception_score(fn: Callable[[Tensor], float]) -> str:
    """``fn(probs)`` = exp(mean KL(p(y|x) || p(y))) over all rows (one split), against
    :func:`dflib.metrics.inception_score.inception_score` and two closed forms."""
    from dflib.metrics.inception_score import inception_score

    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(3 * torch.randn(200, 6, generator=g), dim=1)
    cases = {"one-hot, all 6 classes equally often": (torch.eye(6).repeat(10, 1), 6.0),
             "the same distribution for every image": (probs[:1].repeat(50, 1), 1.0),
             "random softmax rows": (probs, inception_score(probs, splits=1)[0])}
    for name, (p, expected) in cases.items():
        mine = float(fn(p))
        if abs(mine - expected) > 1e-4 * max(1.0, expected):
            _fail(f"{name}: yours {mine:.4f}, expected {expected:.4f}")
    return "one-hot (IS = number of classes), constant (IS = 1), random rows"


# ------------------------------------------------------------------------------------------- appendix
def verify_enabled(mine: Mapping[tuple[str, str], Sequence[str]]) -> str:
    """``mine`` = {(setting, device): [options it switches on]} against :func:`dflib.fast.resolve_fast`."""
    from dflib.fast import resolve_fast

    for (setting, device), opts in mine.items():
        ref = resolve_fast(setting, device).enabled()
        if list(opts) != list(ref):
            _fail(f"--fast {setting} on {device}: yours {list(opts)}, expected {ref}")
    return f"{len(mine)} settings"


def verify_affine_products(fn: Callable[[torch.nn.Module], tuple[int, int]]) -> str:
    """``fn(netG)`` = (small matrix products of the Affine MLPs, batched products that replace them)."""
    from dflib.fast import affine_layers
    from dflib.models import NetG

    for imsize in (32, 64, 256):
        g = NetG(ngf=32, z_dim=100, cond_dim=256, imsize=imsize)
        aff = affine_layers(g)
        ref = (4 * len(aff), 1 + len({a.fc_gamma.linear1.out_features for a in aff}))
        mine = tuple(fn(g))
        if mine != ref:
            _fail(f"{imsize} px: yours {mine}, expected {ref} (four products per Affine; one batched first "
                  "layer plus one batched second layer per distinct channel width)")
    return "32, 64 and 256 px generators"
