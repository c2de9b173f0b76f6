"""Tokeniser, vocabulary, 18-token rule and the restricted unpickler (docs/official_behaviour.md §12.3–§12.4)."""

import pickle

import numpy as np
import pytest

from dflib.data.vocab import (
    UnsafePickleError,
    Vocab,
    load_damsm_pickle,
    pad_tokens,
    safe_load_pickle,
    tokenize,
)


def test_tokenize_official_rule():
    assert tokenize("A Red-bird, with  WHITE wings!") == ["a", "red", "bird", "with", "white", "wings"]
    assert tokenize("this\ufffd\ufffdbird") == ["this", "bird"]
    # non-ASCII characters are dropped inside a token; all-non-ASCII tokens disappear
    assert tokenize("café über ñ") == ["caf", "ber"]
    assert tokenize("snake_case 42") == ["snake_case", "42"]
    assert tokenize("!!!") == []


def test_vocab_first_seen_order_and_end_token():
    v = Vocab.from_captions(["the bird is red", "a red bird", "The small bird"])
    assert v.ixtoword[0] == "<end>" and v.wordtoix["<end>"] == 0
    assert [v.ixtoword[i] for i in range(1, len(v))] == ["the", "bird", "is", "red", "a", "small"]
    assert v.encode("A small RED bird") == [5, 6, 4, 2]
    assert v.decode([5, 6, 4, 2, 0, 0]) == "a small red bird"


def test_vocab_json_round_trip(tmp_path):
    v = Vocab.from_captions(["zeta alpha", "beta zeta gamma"])
    v.save(tmp_path / "v.json")
    w = Vocab.load(tmp_path / "v.json")
    assert w == v and w.wordtoix == v.wordtoix and len(w) == 5
    with pytest.raises(ValueError, match="bad.json"):
        (tmp_path / "bad.json").write_text("{nope")
        Vocab.load(tmp_path / "bad.json")


def test_encode_unknown_words_warn_and_empty_raises():
    v = Vocab.from_captions(["a red bird"])
    with pytest.warns(UserWarning, match="blue"):
        assert v.encode("a blue bird") == [1, 3]
    with pytest.raises(ValueError, match="no words"):
        v.encode("  ?! ")
    with pytest.raises(ValueError, match="unknown: \\['green', 'cat'\\]"):
        v.encode("green cat")


def test_pad_tokens_short_is_zero_padded():
    toks, n = pad_tokens([4, 5, 6], 18)
    assert n == 3 and toks.dtype == np.int64 and toks.shape == (18,)
    assert toks.tolist() == [4, 5, 6] + [0] * 15
    with pytest.raises(ValueError):
        pad_tokens([], 18)


def test_pad_tokens_long_subsamples_in_order():
    ids = list(range(1, 31))  # 30 distinct ids, all > 0
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(20):
        toks, n = pad_tokens(ids, 18, rng)
        assert n == 18 and len(set(toks.tolist())) == 18  # without replacement
        assert np.all(np.diff(toks) > 0)  # original order kept
        assert set(toks.tolist()) <= set(ids)
        seen.add(tuple(toks.tolist()))
    assert len(seen) > 1  # re-drawn every call
    a, _ = pad_tokens(ids, 18, np.random.default_rng(5))
    b, _ = pad_tokens(ids, 18, np.random.default_rng(5))
    assert a.tolist() == b.tolist()


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.target}",))


def test_safe_load_pickle_refuses_code(tmp_path):
    target = tmp_path / "pwned"
    bad = tmp_path / "evil.pickle"
    bad.write_bytes(pickle.dumps([1, _Evil(target)], protocol=2))
    with pytest.raises(UnsafePickleError) as err:
        safe_load_pickle(bad)
    assert "evil.pickle" in str(err.value) and "system" in str(err.value)
    assert not target.exists()
    # any class global is refused too
    cls_pickle = tmp_path / "cls.pickle"
    cls_pickle.write_bytes(pickle.dumps({"v": Vocab}, protocol=4))
    with pytest.raises(UnsafePickleError, match="dflib.data.vocab.Vocab"):
        safe_load_pickle(cls_pickle)


def test_safe_load_pickle_accepts_plain_data(tmp_path):
    data = [[1, 2], {"a": 1.5, 3: None}, ("x", True, False), "s", b"raw"]
    for proto in (2, 4, 5):
        p = tmp_path / f"ok{proto}.pickle"
        p.write_bytes(pickle.dumps(data, protocol=proto))
        if proto == 2:  # bytes need the _codecs.encode global under protocol 2: refused
            with pytest.raises(UnsafePickleError, match="_codecs.encode"):
                safe_load_pickle(p)
            p.write_bytes(pickle.dumps(data[:4], protocol=2))
            assert safe_load_pickle(p) == data[:4]
        else:
            assert safe_load_pickle(p) == data
    with pytest.raises(FileNotFoundError, match="missing.pickle"):
        safe_load_pickle(tmp_path / "missing.pickle")
    (tmp_path / "junk.pickle").write_bytes(b"not a pickle")
    with pytest.raises(pickle.UnpicklingError, match="junk.pickle"):
        safe_load_pickle(tmp_path / "junk.pickle")


def test_damsm_pickle_layout(tmp_path):
    ixtoword = {0: "<end>", 1: "a", 2: "bird"}
    wordtoix = {w: i for i, w in ixtoword.items()}
    p = tmp_path / "captions_DAMSM.pickle"
    p.write_bytes(pickle.dumps([[[1, 2]], [[2]], ixtoword, wordtoix], protocol=2))
    caps = load_damsm_pickle(p)
    assert caps.train == [[1, 2]] and caps.test == [[2]] and len(caps.vocab) == 3
    assert Vocab.from_damsm_pickle(p).decode([1, 2]) == "a bird"
    p.write_bytes(pickle.dumps([[[1, 7]], [], ixtoword, wordtoix], protocol=2))
    with pytest.raises(ValueError, match="outside 0..2"):
        load_damsm_pickle(p)
    p.write_bytes(pickle.dumps([[], []], protocol=2))
    with pytest.raises(ValueError, match="4-element"):
        load_damsm_pickle(p)
