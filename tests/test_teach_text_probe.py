"""dflib.teach.text_probe: sentence similarities, nearest neighbours and their figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from dflib.teach import text_probe


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
