"""dflib.metrics.inception_score: the closed forms and the split convention."""

import numpy as np
import pytest
import torch

from dflib.metrics.inception_score import inception_score


def test_closed_forms():
    assert inception_score(torch.eye(6).repeat(10, 1), splits=1)[0] == pytest.approx(6.0, rel=1e-9)
    assert inception_score(torch.full((12, 4), 0.25), splits=3) == pytest.approx((1.0, 0.0))
    # one class only: every image the same confident class -> 1
    one = torch.zeros(8, 5)
    one[:, 2] = 1
    assert inception_score(one, splits=2)[0] == pytest.approx(1.0)


def test_splits_use_their_own_marginal():
    # two splits, each of one class: within each split p(y|x) = p(y), so IS = 1, although over all rows it is 2
    p = torch.cat([torch.eye(2)[:1].repeat(5, 1), torch.eye(2)[1:].repeat(5, 1)])
    assert inception_score(p, splits=2)[0] == pytest.approx(1.0)
    assert inception_score(p, splits=1)[0] == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 7))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, std = inception_score(probs, splits=4)
    assert 1 <= mean <= 7 and std >= 0


def test_rejects_logits_and_bad_splits():
    with pytest.raises(ValueError, match="softmax"):
        inception_score(torch.randn(4, 3))
    with pytest.raises(ValueError, match="splits"):
        inception_score(torch.full((4, 2), 0.5), splits=5)
