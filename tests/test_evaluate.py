"""The FID protocols end to end (dfeval.protocol, python -m dflib evaluate) on a tiny CUB
fixture in the official layout, a tiny official-format generator checkpoint and stand-in Inceptions."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from dfeval import cli
from dflib.config import ModelConfig, build_models
from dflib.data import build_dataset
from dflib.data.official import make_fixture
from dflib.metrics.fid import save_statistics, standard_preprocess
from dfeval.official import OfficialInception, official_preprocess
from dfeval.evaluate import evaluate_checkpoint
from dfeval.protocol import PROTOCOLS, EvaluationError, get_protocol, run_protocol, sampling_plan
from dflib.noise import truncated_noise
from dflib.text import RNNEncoder

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
CFG = ModelConfig(imsize=32, ngf=2, ndf=2, z_dim=4, cond_dim=8)
N_TEST = 35  # one full batch of 32 per pass, 3 images dropped (drop_last)
FEAT = 6


class StandIn(nn.Module):
    """A small fixed random network with the Inception interface: (B,3,299,299) -> (B, FEAT). Records the
    input sizes it saw."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(3, FEAT, 7, stride=8)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.1)
            self.conv.bias.copy_(torch.randn(FEAT, generator=g) * 0.1)
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x):
        self.seen.append(tuple(x.shape[1:]))
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


class StandInImageEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, CFG.cond_dim, 4, stride=4)

    def forward(self, x):
        r = self.proj(x)
        return r, r.mean(dim=(2, 3))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Official CUB layout (35 test images), DAMSM encoder, an official-format checkpoint, official stats."""
    tmp = tmp_path_factory.mktemp("eval")
    info = make_fixture(tmp / "birds", kind="cub", n_train=2, n_test=N_TEST, seed=3)
    root = info["root"]
    vocab = build_dataset("cub", root=root, split="test", imsize=32).vocab
    torch.manual_seed(0)
    enc = RNNEncoder(len(vocab), emb_dim=6, hidden=CFG.cond_dim)
    (root / "DAMSMencoder").mkdir()
    torch.save(enc.state_dict(), root / "DAMSMencoder" / "text_encoder200.pth")
    netG, netD, netC = build_models(CFG)
    with torch.no_grad():  # make the affines text-sensitive (they start as the identity)
        for p in netG.parameters():
            p.add_(0.05 * torch.randn_like(p))
    ckpt = tmp / "state_epoch_0001.pth"
    torch.save({"model": {"netG": netG.state_dict(), "netD": netD.state_dict(), "netC": netC.state_dict()},
                "optimizers": {}, "epoch": 1}, ckpt)
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, FEAT)) * 0.3
    mu, sigma = ref.mean(0), np.cov(ref, rowvar=False)
    save_statistics(root / "npz" / "bird_val256_FIDK0.npz", mu, sigma)
    return {"root": root, "ckpt": ckpt, "info": info, "mu": mu, "sigma": sigma, "tmp": tmp}


def closed_form_fid(f: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """FID from scratch: tr((S1 S2)^½) = Σ √eig(S1^½ S2 S1^½) via symmetric eigendecompositions (no sqrtm)."""
    f = f.astype(np.float64)
    m = f.sum(0) / len(f)
    c = f - m
    s1 = c.T @ c / (len(f) - 1)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(r1 @ sigma @ r1)
    return float(((m - mu) ** 2).sum() + np.trace(s1) + np.trace(sigma) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


def test_official_counts_follow_drop_last_batching():
    cub, coco = PROTOCOLS["official-cub"], PROTOCOLS["official-coco"]
    assert cub.images_per_pass(2933) == 2912 and cub.n_images(2933) == 29_120
    assert coco.images_per_pass(40470) == 40448 and coco.n_images(40470) == 40_448
    assert (cub.truncation, cub.bound, cub.batch_size, cub.passes, coco.passes) == (0.88, 2.0, 32, 10, 1)
    assert PROTOCOLS["standard"].n_images(2933) == 2933  # every test image once
    with pytest.raises(EvaluationError, match="unknown protocol"):
        get_protocol("official-flowers")


def test_sampling_plan_same_order_every_pass_and_n():
    plan = sampling_plan(N_TEST, PROTOCOLS["official-cub"], seed=5)
    assert len(plan) == 10 and all(len(b) == 32 for b in plan)
    per_pass = [[i for _, i, _ in b] for b in plan]
    assert all(len(set(p)) == 32 for p in per_pass)
    assert all(p == per_pass[0] for p in per_pass)  # the sampler's order is not reshuffled between passes
    assert [b[0][0] for b in plan] == list(range(10))
    seeds = {s for b in plan for _, _, s in b}
    assert len(seeds) == 320  # every (pass, image) draws its caption afresh
    assert sum(len(b) for b in sampling_plan(N_TEST, PROTOCOLS["official-cub"], seed=5, n=40)) == 40
    std = sampling_plan(N_TEST, PROTOCOLS["standard"], seed=5, n=80)
    counts = Counter(i for b in std for _, i, _ in b)
    assert sum(counts.values()) == 80 and set(counts) == set(range(N_TEST)) and max(counts.values()) == 3
    with pytest.raises(EvaluationError, match="no full batch"):
        sampling_plan(31, PROTOCOLS["official-cub"])


def test_official_cub_end_to_end(setup):
    official, standard = StandIn(1), StandIn(2)
    with pytest.warns(UserWarning, match="35 images, the official one 2933"):
        res = evaluate_checkpoint(setup["ckpt"], "official-cub", data_root=setup["root"], device="cpu",
                                  progress=False, official_net=official, standard_net=standard)
    # counts: 10 passes x 32 of the 35 test images
    assert (res.n_images, res.passes, res.images_per_pass, res.n_test_images, res.complete) == (320, 10, 32, 35, True)
    per_pass = [res.keys[p * 32 : (p + 1) * 32] for p in range(10)]
    assert all(set(p) == set(per_pass[0]) and len(set(p)) == 32 for p in per_pass)
    # each image's caption is one of the captions of its own test image, drawn afresh on each pass
    caps = {k: [" ".join(c.split()) for c in v] for k, v in setup["info"]["captions"].items()}
    test_keys = set(setup["info"]["keys"]["test"])
    assert set(res.keys) <= test_keys
    for key, cap in zip(res.keys, res.captions):
        assert cap in caps[key]
    by_key: dict[str, set] = {}
    for key, cap in zip(res.keys, res.captions):
        by_key.setdefault(key, set()).add(cap)
    assert np.mean([len(v) for v in by_key.values()]) > 4  # 10 draws from 10 captions
    # both extractors saw 299x299 inputs; the FIDs equal closed forms on the same features
    assert set(official.seen) == {(3, 299, 299)} and set(standard.seen) == {(3, 299, 299)}
    assert res.features["official"].shape == (320, FEAT)
    fo = closed_form_fid(res.features["official"], setup["mu"], setup["sigma"])
    assert res.fid_official == pytest.approx(fo, rel=1e-7, abs=1e-9)
    real = build_dataset("cub", root=setup["root"], split="test", imsize=32, augment=False)
    with torch.no_grad():
        rf = standard(standard_preprocess(torch.stack([real[i]["image"] for i in range(N_TEST)])))
    rf = rf.double().numpy()
    fs = closed_form_fid(res.features["standard"], rf.mean(0), np.cov(rf, rowvar=False))
    assert res.fid_standard == pytest.approx(fs, rel=1e-6)
    assert res.fid_official != pytest.approx(res.fid_standard)
    assert 1.5 < res.noise_abs_max <= 2 * 0.88 + 1e-6
    d = res.to_dict()
    assert d["settings"]["truncation"] == 0.88 and d["settings"]["reported_fid"] == 12.10
    assert "features" not in d and json.dumps(d)


class Recorder(nn.Module):
    """Wraps NetG and keeps every (noise, sentence, image) it was called with."""

    def __init__(self, net):
        super().__init__()
        self.net, self.z_dim, self.calls = net, net.z_dim, []

    def forward(self, z, s):
        out = self.net(z, s)
        self.calls.append((z.clone(), s.clone(), out.clone()))
        return out


def test_truncated_noise_and_features_of_the_generated_images(setup):
    from dflib.sample import load_generator, load_text_encoder_for

    netG, info = load_generator(setup["ckpt"])
    enc = load_text_encoder_for(info, text_encoder_path=str(setup["root"] / "DAMSMencoder" / "text_encoder200.pth"),
                                vocab=setup["root"] / "captions_DAMSM.pickle")
    rec = Recorder(netG)
    stand_in = StandIn(1)
    ds = build_dataset("cub", root=setup["root"], split="test", imsize=32, seed=100)
    res = run_protocol(rec, enc, ds, "official-cub", official=OfficialInception(stand_in),
                       official_stats=(setup["mu"], setup["sigma"]), seed=7, n=100, progress=False)
    assert res.n_images == 100 and not res.complete and len(rec.calls) == 4  # 32 + 32 + 32 + 4
    z = torch.cat([c[0] for c in rec.calls])
    assert z.abs().max() <= 2 * 0.88 + 1e-6  # truncnorm(-2, 2) * 0.88
    assert abs(z.std().item() - 0.88 * 0.8796) < 0.06  # std of N(0,1) truncated at +-2 is 0.8796
    torch.testing.assert_close(z, truncated_noise(100, CFG.z_dim, 0.88, seed=7))
    fakes = torch.cat([c[2] for c in rec.calls])
    with torch.no_grad():
        expected = stand_in(official_preprocess(fakes)).double().numpy()
    np.testing.assert_allclose(res.features["official"], expected, rtol=1e-5, atol=1e-6)
    # the sentences are those of the recorded captions' test images (same encoder, same tokens)
    assert torch.cat([c[1] for c in rec.calls]).shape == (100, CFG.cond_dim)


def test_standard_protocol_and_r_precision(setup, tmp_path):
    stats = tmp_path / "std.npz"
    res = evaluate_checkpoint(setup["ckpt"], "standard", data_root=setup["root"], dataset="cub", device="cpu",
                              standard_stats=stats, n=120, r_precision=True, image_encoder=StandInImageEncoder(),
                              standard_net=StandIn(2), progress=False)
    assert res.n_images == 120 and res.complete and res.fid_official is None and res.fid_standard > 0
    assert Counter(res.indices).most_common(1)[0][1] == 4  # 120 images cycle over the 35 test images
    assert stats.is_file()  # the real-image statistics were computed and saved for the next run
    rp = res.r_precision
    assert rp["pool"] == 100 and rp["n"] == 120 and 0 <= rp["r_precision"] <= 1
    again = evaluate_checkpoint(setup["ckpt"], "standard", data_root=setup["root"], dataset="cub", device="cpu",
                                standard_stats=stats, n=120, standard_net=StandIn(2), progress=False)
    assert again.fid_standard == pytest.approx(res.fid_standard, rel=1e-9)  # same seed: same images


@pytest.mark.filterwarnings("ignore:official-cub. the test split")
def test_cli_writes_json(setup, tmp_path):
    out = tmp_path / "res.json"
    rc = cli.main([str(setup["ckpt"]), "--protocol", "official-cub", "--data-root", str(setup["root"]),
                   "--device", "cpu", "--workers", "0", "--no-progress", "--out", str(out)],
                  official_net=StandIn(1), standard_net=StandIn(2))
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["n_images"] == 320 and d["complete"] and d["fid_official"] > 0 and d["fid_standard"] > 0
    assert d["settings"]["official_stats"].endswith("bird_val256_FIDK0.npz")


def _run_cli(capsys, argv, **inject):
    rc = cli.main(argv + ["--device", "cpu", "--workers", "0", "--no-progress"], **inject)
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.filterwarnings("ignore:official-cub. the test split")
def test_cli_errors_are_one_line_and_say_what_to_download(setup, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))  # no cached Inception weights
    root, ckpt = str(setup["root"]), str(setup["ckpt"])
    cases = [
        ([str(tmp_path / "nope.pth"), "--protocol", "official-cub", "--data-root", root], ["state_epoch_1220.pth"]),
        ([ckpt, "--protocol", "official-cub"], ["--data-root"]),
        ([ckpt, "--protocol", "official-cub", "--data-root", str(tmp_path)], ["captions_DAMSM.pickle", "metadata"]),
        ([ckpt, "--protocol", "official-cub", "--data-root", root, "--stats", str(tmp_path / "x.npz")],
         ["bird_val256_FIDK0.npz", "x.npz"]),
        ([ckpt, "--protocol", "official-cub", "--data-root", root], ["inception_v3_google-0cc3c7bd.pth", "download.pytorch.org"]),
        ([ckpt, "--protocol", "official-cub", "--data-root", root, "--n", "0"], ["--n must be >= 1"]),
        ([ckpt, "--protocol", "official-cub", "--data-root", root, "--text-encoder-path", str(tmp_path / "t.pth")],
         ["DAMSM text encoder", "t.pth"]),
        ([ckpt, "--protocol", "standard", "--data-root", root], ["--dataset"]),
    ]
    for argv, needles in cases:
        inject = {"official_net": StandIn(1)} if "--text-encoder-path" in argv else {}
        rc, err = _run_cli(capsys, argv, **inject)
        assert rc == 2, argv
        assert len(err.splitlines()) == 1 and err.startswith("python -m dflib evaluate: error:"), err
        for needle in needles:
            assert needle in err, (needle, err)


def test_module_entry_point_has_no_traceback(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", TORCH_HOME=str(tmp_path))
    p = subprocess.run([sys.executable, "-m", "dflib", "evaluate", str(tmp_path / "missing.pth"), "--protocol",
                        "official-coco", "--data-root", str(tmp_path)], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "state_epoch_290.pth" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_the_protocols_never_import_train_or_a_cli():
    for path in (ROOT / "dfeval" / "protocol.py", ROOT / "dfeval" / "evaluate.py"):
        tree = ast.parse(path.read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        mods |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert {m for m in mods if m.startswith("dflib.")}, mods  # absolute imports: the check below can see them
        assert not {m for m in mods if m.startswith(("dflib.train", "dflib.cli", "dfeval.cli"))}, mods
