"""DAMSM BiLSTM text encoder, losses and pretraining (dflib.text.damsm; docs/official_behaviour.md §13–§14)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from dflib.weights import CheckpointMismatchError
from dflib.text import build_text_encoder, freeze
from dfdamsm.loss import (
    DAMSMGammas,
    class_ids_from_batch,
    cosine_matrix,
    damsm_loss,
    same_class_mask,
    sentence_loss,
    word_attention,
    word_region_scores,
    words_loss,
)
from dfdamsm.pretrain import DAMSMConfig, damsm_step, load_damsm_run, lr_for_epoch, retrieval_at_1
from dfdamsm.image_encoders import SmallImageEncoder
from dflib.text.rnn import RNNEncoder, load_text_encoder

torch.set_num_threads(1)

OFFICIAL_KEYS = {
    "encoder.weight": (5450, 300),
    "rnn.weight_ih_l0": (512, 300),
    "rnn.weight_hh_l0": (512, 128),
    "rnn.bias_ih_l0": (512,),
    "rnn.bias_hh_l0": (512,),
    "rnn.weight_ih_l0_reverse": (512, 300),
    "rnn.weight_hh_l0_reverse": (512, 128),
    "rnn.bias_ih_l0_reverse": (512,),
    "rnn.bias_hh_l0_reverse": (512,),
}


def small_encoder(n_words: int = 20, seed: int = 0) -> RNNEncoder:
    torch.manual_seed(seed)
    return RNNEncoder(n_words, emb_dim=12, hidden=16).eval()


def random_tokens(lengths: list[int], T: int, n_words: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(len(lengths), T, dtype=torch.int64)
    for i, L in enumerate(lengths):
        tokens[i, :L] = torch.randint(1, n_words, (L,), generator=g)
    return tokens


# ---------------------------------------------------------------- architecture / state dict -------


def test_official_state_dict_keys_shapes_and_parameter_count():
    enc = RNNEncoder(5450)
    assert {k: tuple(v.shape) for k, v in enc.state_dict().items()} == OFFICIAL_KEYS
    assert sum(p.numel() for p in enc.parameters()) == 2_075_320
    assert enc.dim == 256
    w = enc.encoder.weight.detach()
    assert float(w.min()) >= -0.1 and float(w.max()) <= 0.1 and float(w.std()) > 0.05  # U(-0.1, 0.1)


def test_unsorted_batch_equals_each_caption_alone():
    enc = small_encoder()
    lengths = [3, 7, 1, 5, 7]
    tokens = random_tokens(lengths, T=9, n_words=20)
    sent, words, mask = enc.encode_tokens(tokens, torch.tensor(lengths))
    assert sent.shape == (5, 16) and words.shape == (5, 16, 9) and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == lengths
    for i, L in enumerate(lengths):
        s1, w1, m1 = enc.encode_tokens(tokens[i : i + 1, :L], [L])
        torch.testing.assert_close(sent[i], s1[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(words[i, :, :L], w1[0], atol=1e-6, rtol=1e-5)
        assert torch.all(words[i, :, L:] == 0)


def test_sentence_is_last_forward_then_last_backward_state():
    enc = small_encoder()
    lengths = [4, 2, 6]
    sent, words, _ = enc.encode_tokens(random_tokens(lengths, 6, 20, seed=1), lengths)
    h = enc.dim // 2
    for i, L in enumerate(lengths):
        torch.testing.assert_close(sent[i, :h], words[i, :h, L - 1])  # forward direction ends at the last word
        torch.testing.assert_close(sent[i, h:], words[i, h:, 0])  # backward direction ends at the first word


def test_dropout_only_in_train_mode_and_official_token_layout():
    enc = small_encoder()
    tokens = random_tokens([5, 5], 5, 20)
    a = enc.encode_tokens(tokens, [5, 5]).sent
    b = enc.encode_tokens(tokens.unsqueeze(-1), [5, 5]).sent  # (B, T, 1) as the official loader returns
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    enc.train()
    torch.manual_seed(1)
    c = enc.encode_tokens(tokens, [5, 5]).sent
    torch.manual_seed(2)
    d = enc.encode_tokens(tokens, [5, 5]).sent
    assert not torch.allclose(c, d)


def test_bad_inputs_give_clear_errors():
    enc = small_encoder()
    with pytest.raises(ValueError, match="1..4"):
        enc.encode_tokens(random_tokens([2], 4, 20), [0])
    with pytest.raises(ValueError, match="0..19"):
        enc.encode_tokens(torch.full((1, 3), 25), [3])
    with pytest.raises(RuntimeError, match="no vocabulary"):
        enc.encode(["a red circle"])


def test_load_roundtrip_with_module_prefix_and_frozen_factory(tmp_path):
    enc = small_encoder()
    path = tmp_path / "text_encoder200.pth"
    torch.save({"module." + k: v for k, v in enc.state_dict().items()}, path)
    loaded = build_text_encoder("damsm", path=path)
    assert loaded.n_words == 20 and loaded.dim == 16 and loaded.emb_dim == 12
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    loaded.train()  # a frozen encoder stays in eval mode
    assert not loaded.training and not loaded.drop.training
    tokens = random_tokens([3, 5], 5, 20)
    torch.testing.assert_close(loaded.encode_tokens(tokens, [3, 5]).sent, enc.encode_tokens(tokens, [3, 5]).sent)


def test_mismatching_files_name_the_problem(tmp_path):
    path = tmp_path / "enc.pth"
    torch.save(small_encoder(n_words=20).state_dict(), path)

    class FakeVocab:
        def __len__(self):
            return 21

    with pytest.raises(ValueError, match="encoder has 20 words, vocabulary has 21: use the captions_DAMSM.pickle"):
        load_text_encoder(path, vocab=FakeVocab())
    with pytest.raises(CheckpointMismatchError, match=r"encoder\.weight: file \(20, 12\) vs model \(30, 12\)"):
        RNNEncoder(30, emb_dim=12, hidden=16).load_weights(path)
    state = small_encoder().state_dict()
    state.pop("rnn.bias_hh_l0_reverse")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match="missing keys: rnn.bias_hh_l0_reverse") as err:
        RNNEncoder(20, emb_dim=12, hidden=16).load_weights(path)
    assert "unexpected keys: extra.weight" in str(err.value)
    # the text encoder's own hint, not the DF-GAN networks' one (dflib.weights.NETWORK_HINT)
    assert "This encoder has 20 words, 12-d embeddings and 16-d features" in str(err.value)
    assert "ModelConfig" not in str(err.value)


def test_encode_captions_with_vocab_matches_encode_tokens():
    from dflib.data.vocab import Vocab

    vocab = Vocab.from_captions(["a red circle", "a big blue square on the left"])
    enc = RNNEncoder(len(vocab), emb_dim=8, hidden=8, vocab=vocab).eval()
    caps = ["a red circle", "a big blue square on the left"]
    sent, words, mask = enc.encode(caps)
    ids = [vocab.encode(c) for c in caps]
    tokens = torch.zeros(2, 7, dtype=torch.int64)
    for i, x in enumerate(ids):
        tokens[i, : len(x)] = torch.tensor(x)
    ref = enc.encode_tokens(tokens, [len(x) for x in ids])
    torch.testing.assert_close(sent, ref.sent)
    assert words.shape == (2, 8, 7) and mask.sum(1).tolist() == [3, 7]
    with pytest.raises(ValueError, match="encoder has 5 words, vocabulary has"):
        RNNEncoder(5, vocab=vocab)


# ---------------------------------------------------------------- losses ---------------------------


def test_cosine_matrix_and_same_class_mask():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(cosine_matrix(a, b), torch.tensor([[1.0, 0.0, -1.0], [r, r, -r]]))
    m = same_class_mask(torch.tensor([0, 1, 0, 0]))
    expected = torch.tensor(
        [[0, 0, 1, 1], [0, 0, 0, 0], [1, 0, 0, 1], [1, 0, 1, 0]], dtype=torch.bool
    )
    assert torch.equal(m, expected)
    assert same_class_mask(None) is None


def test_class_ids_from_shapes_attrs():
    batch = {"attrs": {"shape": torch.tensor([0, 1, 0, 0]), "color": torch.tensor([2, 2, 2, 3])}}
    ids = class_ids_from_batch(batch)
    assert ids[0] == ids[2] and len({int(ids[0]), int(ids[1]), int(ids[3])}) == 3
    assert class_ids_from_batch({"tokens": torch.zeros(2, 3)}) is None
    assert torch.equal(class_ids_from_batch({"class_id": [4, 4]}), torch.tensor([4, 4]))


def test_sentence_loss_aligned_beats_shuffled_and_masks_same_class():
    torch.manual_seed(0)
    code = torch.randn(6, 16)
    aligned = sentence_loss(code, code + 0.1 * torch.randn(6, 16))
    shuffled = sentence_loss(code, code[torch.tensor([1, 2, 3, 4, 5, 0])])
    assert float(aligned[0] + aligned[1]) < 0.1 < float(shuffled[0] + shuffled[1])
    classes = torch.tensor([0, 0, 1, 2, 2, 2])
    _, _, scores = sentence_loss(code, code, classes, gamma3=10.0)
    off = same_class_mask(classes)
    assert torch.all(torch.isneginf(scores[off])) and torch.all(torch.isfinite(scores[~off]))
    torch.testing.assert_close(torch.diagonal(scores), torch.full((6,), 10.0))


def _reference_word_scores(regions, words, lengths, g1, g2):
    """Per-pair loop, one caption's valid words at a time (independent of the vectorised code)."""
    B = regions.shape[0]
    R = torch.zeros(B, B)
    for i in range(B):
        e = words[i, :, : lengths[i]]
        for j in range(B):
            v = regions[j].flatten(1)  # (D, N)
            s = torch.softmax(v.t() @ e, dim=1)  # regions x words, normalised over words
            a = torch.softmax(g1 * s, dim=0)  # normalised over regions
            c = v @ a  # (D, L)
            cos = F.cosine_similarity(c, e, dim=0)
            R[j, i] = torch.log(torch.exp(g2 * cos).sum())
    return R


def test_word_scores_match_reference_loop_and_ignore_padding():
    torch.manual_seed(0)
    B, D, T, h = 3, 8, 5, 3
    regions = torch.randn(B, D, h, h)
    words = torch.randn(B, D, T)
    lengths = [5, 2, 3]
    mask = torch.arange(T)[None] < torch.tensor(lengths)[:, None]
    R, alpha = word_region_scores(regions, words, mask, 4.0, 5.0)
    torch.testing.assert_close(R, _reference_word_scores(regions, words, lengths, 4.0, 5.0), atol=1e-5, rtol=1e-5)
    noisy = words.clone()
    noisy[~mask.unsqueeze(1).expand_as(words)] = 100.0  # junk in padded positions changes nothing
    torch.testing.assert_close(word_region_scores(regions, noisy, mask)[0], R)
    context, alpha = word_attention(regions, words, mask)
    assert context.shape == (B, B, D, T) and alpha.shape == (B, B, T, h * h)
    torch.testing.assert_close(alpha.sum(-1), torch.ones(B, B, T))
    _, _, scores, attn = words_loss(regions, words, mask)
    assert scores.shape == (B, B) and attn.shape == (B, T, h, h)


def test_words_loss_aligned_beats_shuffled():
    torch.manual_seed(0)
    B, D, T = 5, 16, 4
    words = torch.randn(B, D, T)
    mask = torch.ones(B, T, dtype=torch.bool)
    aligned_regions = words.reshape(B, D, 2, 2)  # each image's regions are its caption's words
    shuffled_regions = aligned_regions[torch.tensor([1, 2, 3, 4, 0])]
    la = words_loss(aligned_regions, words, mask)
    ls = words_loss(shuffled_regions, words, mask)
    assert float(la[0] + la[1]) < float(ls[0] + ls[1])
    assert torch.equal(la[2].argmax(1), torch.arange(B))


def test_lr_schedule_closed_form():
    cfg = DAMSMConfig()
    assert lr_for_epoch(0, cfg) == pytest.approx(0.002)
    assert lr_for_epoch(3, cfg) == pytest.approx(0.002 * 0.98**3)
    n = math.ceil(math.log(0.1) / math.log(0.98))  # decays until lr <= 0.0002
    assert lr_for_epoch(n, cfg) == pytest.approx(0.002 * 0.98**n)
    assert lr_for_epoch(n + 50, cfg) == lr_for_epoch(n, cfg) < 0.0002


# ---------------------------------------------------------------- training -------------------------

COLORS = {"red": (1, -1, -1), "green": (-1, 1, -1), "blue": (-1, -1, 1), "yellow": (1, 1, -1), "cyan": (-1, 1, 1), "magenta": (1, -1, 1)}
WORDS = ["<end>", "a", "square", "on", "the", "left", "right", *COLORS]


def coloured_squares(seed: int) -> dict:
    """12 images: a coloured square on the left or the right, captioned accordingly."""
    g = torch.Generator().manual_seed(seed)
    w2i = {w: i for i, w in enumerate(WORDS)}
    imgs, caps = [], []
    for name, rgb in COLORS.items():
        for side in ("left", "right"):
            im = -1 + 0.1 * torch.randn(3, 16, 16, generator=g)
            x0, y0 = (1 if side == "left" else 9), int(torch.randint(0, 10, (1,), generator=g))
            im[:, y0 : y0 + 6, x0 : x0 + 6] = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1)
            imgs.append(im)
            caps.append(f"a {name} square on the {side}")
    ids = [[w2i[w] for w in c.split()] for c in caps]
    tokens = torch.zeros(len(ids), 8, dtype=torch.int64)
    for i, x in enumerate(ids):
        tokens[i, : len(x)] = torch.tensor(x)
    lengths = torch.tensor([len(x) for x in ids])
    return {"image": torch.stack(imgs), "tokens": tokens, "length": lengths, "caption": caps}


def test_pretraining_lowers_loss_and_retrieves_above_chance():
    torch.manual_seed(0)
    batch, held_out = coloured_squares(0), coloured_squares(1)
    text = RNNEncoder(len(WORDS), emb_dim=16, hidden=32)
    image = SmallImageEncoder(dim=32, imsize=16, ch=8, regions=4)
    cfg = DAMSMConfig(epochs=1)
    opt = torch.optim.Adam(list(text.parameters()) + list(image.parameters()), lr=cfg.lr, betas=cfg.betas)
    before = retrieval_at_1(text, image, [held_out])
    losses = [damsm_step(text, image, batch, opt, cfg).items()["total"] for _ in range(100)]
    after = retrieval_at_1(text, image, [held_out])
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    assert before["chance"] == pytest.approx(1 / 12)
    assert after["sent_r1"] >= 0.5 and after["word_r1"] >= 0.5  # chance is 1/12 (measured 0.92 / 0.75)
    assert text.training and image.training  # retrieval_at_1 restores the modes


def test_damsm_step_clips_only_the_text_encoder():
    torch.manual_seed(0)
    batch = coloured_squares(0)
    text = RNNEncoder(len(WORDS), emb_dim=8, hidden=8)
    image = SmallImageEncoder(dim=8, imsize=16, ch=4, regions=4)
    cfg = DAMSMConfig(clip_norm=1e-3)
    opt = torch.optim.SGD(list(text.parameters()) + list(image.parameters()), lr=0.0)
    out = damsm_step(text, image, batch, opt, cfg)
    text_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in text.parameters() if p.grad is not None]))
    img_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in image.parameters() if p.grad is not None]))
    assert float(text_norm) == pytest.approx(1e-3, rel=1e-3) and float(img_norm) > 1e-2
    assert torch.isfinite(out.total) and set(out.items()) == {"total", "w_loss0", "w_loss1", "s_loss0", "s_loss1"}


def test_small_image_encoder_shapes_and_gammas_default():
    enc = SmallImageEncoder(dim=32, imsize=32, ch=8, regions=4)
    regions, code = enc(torch.randn(2, 3, 64, 64))  # other sizes are resized
    assert regions.shape == (2, 32, 4, 4) and code.shape == (2, 32)
    assert DAMSMGammas() == DAMSMGammas(4.0, 5.0, 10.0)
    with pytest.raises(ValueError, match="power of two"):
        SmallImageEncoder(imsize=48, regions=8)
    out = damsm_loss(regions, code, (torch.randn(2, 32), torch.randn(2, 32, 3), torch.ones(2, 3, dtype=torch.bool)))
    torch.testing.assert_close(out.total, out.w_loss0 + out.w_loss1 + out.s_loss0 + out.s_loss1)


def test_freeze_helper():
    enc = freeze(small_encoder())
    assert enc.frozen and not enc.training and not any(p.requires_grad for p in enc.parameters())


# ---------------------------------------------------------------- CLI on a bundled dataset ---------


def test_cli_pretrains_on_shapes_and_files_load(tmp_path, capsys):
    from dflib.data.vocab import Vocab
    from dfdamsm.cli import main

    out = tmp_path / "damsm"
    args = ["--dataset", "shapes", "--out", str(out), "--imsize", "32", "--epochs", "2", "--batch-size", "8",
            "--max-steps-per-epoch", "2", "--emb-dim", "16", "--hidden", "32", "--device", "cpu", "--quiet",
            "--dataset-kw", "length=16", "--dataset-kw", "supersample=1"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((out / "damsm.json").read_text())
    printed = capsys.readouterr().out
    assert "DAMSM pretraining on 'shapes'" in printed and "R@1" in printed and "text_encoder.pth" in printed
    assert [h["epoch"] for h in result["history"]] == [1, 2]
    assert result["history"][1]["lr"] == pytest.approx(0.002 * 0.98)
    vocab = Vocab.load(out / "vocab.json")
    enc = build_text_encoder("damsm", vocab=vocab, path=out / "text_encoder.pth")
    sent, words, mask = enc.encode(["a red circle"])
    assert sent.shape == (1, 32) and words.shape == (1, 32, 3) and mask.all()
    image = SmallImageEncoder(dim=32, imsize=32, regions=8).load_weights(out / "image_encoder.pth")
    assert image(torch.zeros(1, 3, 32, 32))[0].shape == (1, 32, 8, 8)
    text2, image2 = load_damsm_run(out)
    assert text2.vocab == vocab and not image2.training
    torch.testing.assert_close(text2.encode(["a red circle"]).sent, sent)


def test_loading_a_folder_without_a_pretraining_names_the_command_that_writes_one(tmp_path):
    """The message named ``python -m dflib.text.pretrain``, a command that never existed."""
    with pytest.raises(FileNotFoundError, match=r"damsm\.json not found: is .* a folder written by python -m dflib pretrain\?$"):
        load_damsm_run(tmp_path)
