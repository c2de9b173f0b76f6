"""dfcourse.text_probe: sentence similarities, nearest neighbours and their figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from dfcourse import text_probe


def test_cosine_similarities_and_nearest_neighbours():
    sent = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 3.0], [-1.0, 0.0]])
    sim = text_probe.cosine_similarities(sent)
    assert torch.allclose(sim.diagonal(), torch.ones(4)) and torch.allclose(sim, sim.T)
    assert sim[0, 3].item() == pytest.approx(-1.0) and sim[0, 2].item() == pytest.approx(0.0, abs=1e-7)
    assert text_probe.nearest_neighbours(sim) == [1, 0, 1, 2]
    with pytest.raises(ValueError):
        text_probe.nearest_neighbours(torch.ones(2, 3))
    figs = [text_probe.plot_similarity_matrices({"a": sim, "b": sim}, ["w", "x", "y", "z"]),
            text_probe.plot_word_features(torch.randn(256, 5), ["a", "red", "circle"]),
            text_probe.plot_retrieval(torch.zeros(2, 3, 8, 8), [["x", "y"], ["y", "x"]], ["x", "x"])]
    for f in figs:
        assert f.axes
        plt.close(f)


def test_meaning_triplets_separate_meaning_from_overlap():
    from dflib.data.shapes_text import COLOR_WORDS, SHAPE_WORDS

    trip = text_probe.meaning_triplets(COLOR_WORDS, SHAPE_WORDS)
    assert len(trip) == 18  # 3 colours x 3 shapes with a synonym, two overlap captions each
    assert trip[0] == text_probe.Triplet("a red circle", "a scarlet disc", "a red square", "shape",
                                         "a green square")
    assert trip[1] == text_probe.Triplet("a red circle", "a scarlet disc", "a green circle", "colour",
                                         "a green square")
    for t in trip:
        assert not text_probe.content_words(t.anchor) & text_probe.content_words(t.same_meaning)
        assert not text_probe.content_words(t.anchor) & text_probe.content_words(t.unrelated)
        assert len(text_probe.content_words(t.anchor) & text_probe.content_words(t.overlap)) == 1
    with pytest.raises(ValueError, match="no colour"):
        text_probe.meaning_triplets({"red": ("red",)}, {"circle": ("circle", "disc")})
    with pytest.raises(ValueError, match="shares a content word"):
        text_probe.meaning_triplets({"red": ("red", "red")}, {"circle": ("circle", "disc")})


def test_score_triplets_counts_wins():
    trip = [text_probe.Triplet("a red circle", "a scarlet disc", "a red square", "shape", "a green square"),
            text_probe.Triplet("a red circle", "a scarlet disc", "a green circle", "colour", "a green square")]
    meaning = {"red": 0, "scarlet": 0, "green": 1, "circle": 2, "disc": 2, "square": 3}

    def encode(caps):  # a perfect "meaning" encoder: one-hot per concept
        out = torch.zeros(len(caps), 4)
        for i, c in enumerate(caps):
            for w in c.split()[1:]:
                out[i, meaning[w]] = 1.0
        return out

    r = text_probe.score_triplets(encode, trip)
    assert r.n == 2 and r.beats_overlap == 2 and r.beats_unrelated == 2
    assert np.allclose(r.same, 1.0) and np.allclose(r.overlap, 0.5) and np.allclose(r.unrelated, 0.0)
    assert "closer than shared word 2/2, than unrelated 2/2" in r.summary()
    words = {w: torch.randn(8, generator=torch.Generator().manual_seed(i)) for i, w in enumerate(meaning)}
    bag = text_probe.score_triplets(lambda caps: torch.stack([sum(words[w] for w in c.split()[1:])
                                                               for c in caps]), trip)
    assert bag.n == 2
    fig = text_probe.plot_meaning_probe({"meaning": r, "bag": bag})
    assert len(fig.axes) == 2 and "beats shared word 2/2, unrelated 2/2" in fig.axes[0].get_title()
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel()
    plt.close(fig)


def test_pair_cosines_are_one_for_identical_captions_and_follow_the_vectors():
    from dflib.text import BagOfWordsEncoder

    vecs = {"a": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0, 1.0]), "c": torch.tensor([0.0, -2.0])}
    enc = lambda caps: torch.stack([vecs[c] for c in caps])  # noqa: E731
    got = text_probe.pair_cosines(enc, {"same": ("a", "a"), "45 deg": ("a", "b"), "opposite-ish": ("b", "c")})
    assert got["same"] == pytest.approx(1.0)
    assert got["45 deg"] == pytest.approx(2 ** -0.5)
    assert got["opposite-ish"] == pytest.approx(-(2 ** -0.5))
    bow = BagOfWordsEncoder(384)
    cos = text_probe.pair_cosines(lambda caps: bow.encode(caps).sent)
    assert set(cos) == set(text_probe.PAIR_PROBE)
    # one word in six differs: the bag of words keeps the pair apart (a random direction of its own)
    assert cos["position (left / right)"] < 0.95


def test_shapes_damsm_trains_a_pair_on_given_data_options():
    import torch

    opts = {"max_objects": 1, "background": "gray", "length": 999}
    text_enc, img_enc, history = text_probe.shapes_damsm(opts, epochs=1, length=64, max_steps_per_epoch=1)
    assert len(history) == 1 and not text_enc.training and not img_enc.training
    _, code = img_enc(torch.zeros(2, 3, 32, 32))
    assert code.shape == (2, 256) and text_enc.encode(["a red circle", "a blue square"]).sent.shape == (2, 256)
