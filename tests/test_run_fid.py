"""FID beside its real-vs-real floor, with a stand-in feature extractor (closed-form check)."""

from __future__ import annotations

import torch

from dflib.data import build_dataset
from dflib.metrics.fid import feature_frechet_distance
from dflib.metrics.run_fid import fid_with_floor
from dflib.models import NetG
from dflib.text import BagOfWordsEncoder

torch.set_num_threads(1)


def _extractor():
    w = torch.randn(3 * 32 * 32, 8, generator=torch.Generator().manual_seed(0))
    return lambda x: x.flatten(1) @ w


def test_floor_is_the_fid_between_real_test_and_real_train_images():
    torch.manual_seed(0)
    netG, enc = NetG(ngf=4, z_dim=8, cond_dim=16, imsize=32), BagOfWordsEncoder(16)
    opts = {"max_objects": 1}
    out = fid_with_floor(netG, enc, "shapes", opts, n=40, extractor=_extractor())
    test = build_dataset("shapes", split="test", imsize=32, seed=0, length=40, max_objects=1)
    train = build_dataset("shapes", split="train", imsize=32, seed=0, length=40, max_objects=1)
    ext = _extractor()
    f_test = ext(torch.stack([test[i]["image"] for i in range(40)])).double().numpy()
    f_train = ext(torch.stack([train[i]["image"] for i in range(40)])).double().numpy()
    assert abs(out["fid_floor"] - feature_frechet_distance(f_test, f_train)) < 1e-6 * max(1.0, out["fid_floor"])
    assert out["n"] == 40 and out["fid"] > out["fid_floor"] > 0  # an untrained G is far from the data
