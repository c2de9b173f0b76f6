"""Bring-your-own `folder` dataset: both caption formats, splits, vocabulary, errors naming files."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from dflib.data import build_dataset, collate
from dflib.data.folder import FolderDataset, hash_split
from dflib.data.vocab import Vocab


def _img(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), colour, dtype=np.uint8)).save(path)


@pytest.fixture()
def txt_folder(tmp_path):
    root = tmp_path / "imgs"
    _img(root / "a.png", (255, 0, 0))
    (root / "a.txt").write_text("A red square.\n\nred block\n")
    _img(root / "sub" / "b.jpg", (0, 0, 255))
    (root / "sub" / "b.txt").write_text("a blue picture\n")
    _img(root / "c.png", (0, 255, 0))
    (root / "c.txt").write_text("green\nall green now\nvery green\n")
    return root


def test_txt_format_all_split(txt_folder):
    ds = FolderDataset(txt_folder, split="all", imsize=16)
    assert sorted(ds.keys) == ["a", "c", "sub/b"]
    assert ds.captions_per_image == 3
    assert ds.captions(ds.keys.index("a")) == ["A red square.", "red block"]
    it = ds[ds.keys.index("a")]
    assert it["image"].shape == (3, 16, 16)
    torch.testing.assert_close(it["image"][:, 8, 8], torch.tensor([1.0, -1.0, -1.0]))
    assert it["caption"] in ("A red square.", "red block")
    assert ds.vocab.decode(it["tokens"]) == " ".join(ds.vocab.tokenize(it["caption"]))
    b = collate([ds[i] for i in range(3)])
    assert b["tokens"].shape == (3, 18) and b["length"].min() >= 1


def test_jsonl_format_and_vocab_order(tmp_path):
    root = tmp_path / "j"
    _img(root / "x" / "one.png", (10, 20, 30))
    _img(root / "two.jpg", (200, 200, 200))
    lines = [
        {"image": "x/one.png", "caption": "Zebra stripes"},
        {"image": "two.jpg", "captions": ["a white wall", "plain white"]},
        {"image": "x/one.png", "captions": ["dark zebra"]},
    ]
    (root / "captions.jsonl").write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    ds = build_dataset("folder", root=root, split="train", imsize=16, test_fraction=0.0)
    assert ds.keys == ["two", "x/one"] and ds.captions(1) == ["Zebra stripes", "dark zebra"]
    # vocabulary: train captions in key order, first-seen
    assert [ds.vocab.ixtoword[i] for i in range(len(ds.vocab))] == [
        "<end>", "a", "white", "wall", "plain", "zebra", "stripes", "dark"]
    (root / "captions.jsonl").write_text('{"image": "two.jpg"}\n')
    with pytest.raises(ValueError, match="captions.jsonl:1"):
        FolderDataset(root)
    (root / "captions.jsonl").write_text('{"image": "gone.jpg", "caption": "x"}\n')
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        FolderDataset(root)


def test_hash_split_is_deterministic_and_split_file(txt_folder, tmp_path):
    keys = [f"img_{i}" for i in range(2000)]
    frac = np.mean([hash_split(k, 0.1) == "test" for k in keys])
    assert 0.08 < frac < 0.12 and hash_split("img_7") == hash_split("img_7")
    tr = FolderDataset(txt_folder, split="train", test_fraction=0.5)
    te = FolderDataset(txt_folder, split="test", test_fraction=0.5)
    assert sorted(tr.keys + te.keys) == ["a", "c", "sub/b"] and not set(tr.keys) & set(te.keys)
    assert tr.vocab == te.vocab  # built over train + test
    sf = tmp_path / "split.json"
    sf.write_text(json.dumps({"train": ["a.png", "sub/b"], "test": ["c"]}))
    assert FolderDataset(txt_folder, split="test", split_file=sf).keys == ["c"]
    assert FolderDataset(txt_folder, split="train", split_file=sf).keys == ["a", "sub/b"]


def test_given_vocab_drops_unknown(txt_folder, tmp_path):
    v = Vocab.from_captions(["red green"])
    v.save(tmp_path / "v.json")
    with pytest.warns(UserWarning, match="1 captions"):
        ds = FolderDataset(txt_folder, split="all", vocab=tmp_path / "v.json")
    assert ds.vocab == v and "sub/b" not in ds.keys  # "a blue picture" has no known word
    assert ds.captions(ds.keys.index("a")) == ["A red square.", "red block"]


def test_errors_name_files_and_skip_bad(txt_folder):
    (txt_folder / "c.txt").unlink()
    with pytest.raises(FileNotFoundError, match="c.txt"):
        FolderDataset(txt_folder, split="all")
    with pytest.warns(UserWarning, match="c.txt"):
        ds = FolderDataset(txt_folder, split="all", skip_bad=True)
    assert sorted(ds.keys) == ["a", "sub/b"]
    (txt_folder / "sub" / "b.jpg").write_bytes(b"garbage")
    (txt_folder / "c.txt").write_text("?!\n")
    with pytest.raises(ValueError, match="c.png"):
        FolderDataset(txt_folder, split="all")
    (txt_folder / "c.txt").write_text("green\n")
    ds = FolderDataset(txt_folder, split="all")
    with pytest.raises(OSError, match="b.jpg"):
        ds[ds.keys.index("sub/b")]
    with pytest.warns(UserWarning, match="b.jpg"):
        ds = FolderDataset(txt_folder, split="all", skip_bad=True)
    assert "sub/b" not in ds.keys
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FolderDataset(txt_folder / "nowhere")
