"""Shipped models: export from a checkpoint, load by name (Python and CLI), card fields."""

from __future__ import annotations

import json
import os
import sys

import pytest
import torch

from dflib import pretrained as P
from dflib.sample import generate, load_generator, load_text_encoder_for
from dflib.train import Trainer

sys.path.insert(0, os.path.dirname(__file__))
from test_train_resume import tiny_cfg  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zoo")
    tr = Trainer(tiny_cfg("ema=true"), out_dir=tmp / "run")
    tr.run(max_steps=3)
    folder = P.export_pretrained(tmp / "run", "tiny", {"data": "shapes", "metrics": {"color": 0.5}}, root=tmp / "zoo")
    return tr, folder


def test_export_then_load_gives_the_ema_weights_in_half_precision(exported):
    tr, folder = exported
    assert P.list_pretrained(folder.parent) == ["tiny"]
    netG, info = P.load_pretrained("tiny", root=folder.parent)
    assert info["kind"] == "pretrained" and info["step"] == 3 and info["card"]["metrics"] == {"color": 0.5}
    for (k, a), b in zip(netG.state_dict().items(), tr.ema_G.state_dict().values()):
        assert a.dtype == torch.float32 and torch.equal(a, b.half().float()), k
    assert (folder / "card.md").read_text().startswith("# tiny") and "| color | 0.500 |" in (folder / "card.md").read_text()
    assert json.loads((folder / "card.json").read_text())["name"] == "tiny"


def test_a_name_that_is_not_shipped_lists_the_names(exported):
    _, folder = exported
    with pytest.raises(FileNotFoundError, match=r"no shipped model called 'nope': choose one of \['tiny'\]"):
        P.load_pretrained("nope", root=folder.parent)


def test_load_generator_takes_a_shipped_name(exported, monkeypatch):
    _, folder = exported
    monkeypatch.setattr(P, "PRETRAINED_DIR", folder.parent)
    monkeypatch.setattr("dflib.sample.list_pretrained", lambda: P.list_pretrained(folder.parent))
    monkeypatch.setattr("dflib.sample.load_pretrained", lambda n, device="cpu": P.load_pretrained(n, device, folder.parent))
    netG, info = load_generator("tiny")
    enc = load_text_encoder_for(info)
    assert generate(netG, enc, ["a red circle"], n=2).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name", P.list_pretrained())
def test_every_shipped_model_loads_and_fits_in_git(name):
    netG, info = P.load_pretrained(name)
    assert (P.PRETRAINED_DIR / name / "generator.pt").stat().st_size <= 10 * 2**20
    card = info["card"]
    for key in ("data", "steps", "wall_time", "hardware", "metrics"):
        assert key in card, key


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in P.list_pretrained() if P.pretrained_card(n)["data"]["name"] == "shapes"])
def test_shipped_shapes_models_match_their_cards_on_a_small_sample(name):
    """Re-measure the card's accuracies on 128 fresh images (another evaluation seed): each within sampling
    noise (3 binomial standard errors, plus 0.05 for the classifier retrained here)."""
    from dflib.metrics.shapes_eval import evaluate_shapes_generator
    from dflib.text import SentenceCache

    netG, info = P.load_pretrained(name)
    card = info["card"]
    enc = SentenceCache(load_text_encoder_for(info))
    n = 128
    got = evaluate_shapes_generator(netG, enc, card["data"]["options"], n=n, seed=1, truncation=0.88,
                                    imsize=netG.imsize, diversity_captions=8, draws=8)
    for attr, want in card["metrics"]["shapes"]["accuracy"].items():
        if want is None or got["accuracy"][attr] is None:
            continue
        m = max(1, got["n_stated"][attr])
        tol = 3 * (max(want * (1 - want), 0.01) / m) ** 0.5 + 0.05
        assert abs(got["accuracy"][attr] - want) <= tol, (attr, got["accuracy"][attr], want, tol)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in P.list_pretrained() if P.pretrained_card(n)["data"]["name"] == "emoji"])
def test_shipped_emoji_models_match_their_cards_on_a_small_sample(name):
    """Re-measure the card's emoji accuracies (captions the model was trained on) on 128 fresh images
    (another evaluation seed): each within 3 binomial standard errors plus 0.08 (the classifier is
    retrained here, with fewer steps)."""
    from dflib.metrics.emoji_eval import evaluate_emoji_generator
    from dflib.text import SentenceCache

    netG, info = P.load_pretrained(name)
    card = info["card"]["metrics"]["emoji_train"]
    enc = SentenceCache(load_text_encoder_for(info))
    got = evaluate_emoji_generator(netG, enc, n=128, seed=1, split="train", imsize=netG.imsize,
                                   diversity_captions=8, draws=8)
    for label, want in card["accuracy"].items():
        if want is None or got["accuracy"][label] is None:
            continue
        m = max(1, got["n_stated"][label])
        tol = 3 * (max(want * (1 - want), 0.01) / m) ** 0.5 + 0.08
        assert abs(got["accuracy"][label] - want) <= tol, (label, got["accuracy"][label], want, tol)
