"""dfcourse.emoji_probe: notebook 09's readings of generated emoji."""

import pytest
import torch

from dflib.metrics.emoji_eval import emoji_classifier, label_names
from dfcourse.emoji_probe import count_labels, nearest_real, read_emoji, real_emoji


def test_nearest_real_finds_each_real_drawing_and_its_neighbour_under_noise():
    names = ["red heart", "blue heart", "cat face", "dog face"]
    real = real_emoji(names)
    assert real.shape == (4, 3, 32, 32) and real.min() >= -1 and real.max() <= 1
    assert nearest_real(real, names) == names
    g = torch.Generator().manual_seed(0)
    noisy = (real + 0.3 * torch.randn(real.shape, generator=g)).clamp(-1, 1)
    assert nearest_real(noisy, names) == names
    # a blend 70/30 of a cat and a dog is nearer the cat; reversed, the dog
    blend = torch.stack([0.7 * real[2] + 0.3 * real[3], 0.3 * real[2] + 0.7 * real[3]])
    assert nearest_real(blend, names) == ["cat face", "dog face"]


def test_real_emoji_names_a_missing_name():
    with pytest.raises(KeyError, match="pizza slice"):
        real_emoji(["pizza slice"])


def test_count_labels_orders_by_count():
    assert count_labels(["a", "b", "b", "c", "b", "a"], top=2) == "b 3, a 2"


def test_read_emoji_names_every_label_of_every_image(tmp_path):
    torch.set_num_threads(1)
    clf = emoji_classifier(steps=30, seed=0, cache_dir=tmp_path)
    real = real_emoji(["red heart", "cat face", "waving hand"])
    seen = read_emoji(clf, real)
    names = label_names()
    assert set(seen) == set(names)
    for k, v in seen.items():
        assert len(v) == 3 and all(x in names[k] for x in v)
