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


# ---------------------------------------------------------------------------------------------------
# issue 14: images outside the root, odd formats and oversized images through the dataset
# ---------------------------------------------------------------------------------------------------


@pytest.fixture()
def outside_setup(tmp_path):
    root = tmp_path / "ds"
    _img(root / "inside.png", (0, 255, 0))
    _img(tmp_path / "secret" / "outside.png", (255, 0, 0))
    (root / "link.png").symlink_to(tmp_path / "secret" / "outside.png")
    (root / "sub").mkdir()
    (root / "sub" / "inner.png").symlink_to(root / "inside.png")  # a symlink that stays inside: fine
    return root, tmp_path / "secret" / "outside.png"


def _jsonl(root, images):
    (root / "captions.jsonl").write_text(
        "\n".join(json.dumps({"image": im, "caption": f"picture number {i}"}) for i, im in enumerate(images)) + "\n")


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_jsonl_paths_leaving_the_root_are_refused_naming_the_line(outside_setup, how):
    root, outside = outside_setup
    escape = {"absolute": str(outside), "dotdot": "../secret/outside.png", "symlink": "link.png"}[how]
    _jsonl(root, ["inside.png", "sub/inner.png", escape])
    with pytest.raises(ValueError, match=r"captions\.jsonl:3: image path .*(absolute|leaves the dataset root)") as info:
        FolderDataset(root, split="all")
    msg = str(info.value)
    assert "allow_outside_root=True" in msg and "data.options.allow_outside_root" in msg
    if how == "symlink":
        assert "symlink" in msg
    # skip_bad skips the line with a warning; the opt-in reads it
    with pytest.warns(UserWarning, match=r"captions\.jsonl:3"):
        ds = FolderDataset(root, split="all", skip_bad=True)
    assert sorted(ds.keys) == ["inside", "sub/inner"]
    ds = FolderDataset(root, split="all", allow_outside_root=True, imsize=16, augment=False)
    assert len(ds) == 3
    out_key = [k for k in ds.keys if k not in ("inside", "sub/inner")][0]
    it = ds[ds.keys.index(out_key)]
    torch.testing.assert_close(it["image"][:, 8, 8], torch.tensor([1.0, -1.0, -1.0]))  # the outside image, red


def test_jsonl_dotdot_that_stays_inside_is_fine(outside_setup):
    root, _ = outside_setup
    _jsonl(root, ["sub/../inside.png"])
    assert len(FolderDataset(root, split="all")) == 1


def test_txt_format_refuses_an_image_symlinked_from_outside(outside_setup):
    root, _ = outside_setup
    for name in ("inside", "link", "sub/inner"):
        (root / f"{name}.txt").write_text("a picture\n")
    with pytest.raises(ValueError, match=r"link\.png.*symlink.*allow_outside_root=True"):
        FolderDataset(root, split="all")
    assert sorted(FolderDataset(root, split="all", allow_outside_root=True).keys) == ["inside", "link", "sub/inner"]


def test_odd_formats_through_the_dataset(tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    Image.fromarray(np.zeros((20, 20, 4), np.uint8), "RGBA").save(root / "clear.png")  # all transparent black
    (root / "clear.txt").write_text("nothing at all\n")
    Image.new("RGB", (20, 20), (0, 0, 255)).save(root / "scan.tif")  # TIFF is listed and found
    (root / "scan.txt").write_text("a blue scan\n")
    wide = np.zeros((20, 40, 3), np.uint8)
    wide[:, :20] = (255, 0, 0)
    wide[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown upright, red is on top
    Image.fromarray(wide).save(root / "phone.png", exif=exif)
    (root / "phone.txt").write_text("a red and blue photo\n")
    ds = FolderDataset(root, split="all", imsize=16, augment=False)
    assert sorted(ds.keys) == ["clear", "phone", "scan"]
    clear = ds[ds.keys.index("clear")]["image"]
    torch.testing.assert_close(clear, torch.ones_like(clear))  # white background, not the stored black
    torch.testing.assert_close(ds[ds.keys.index("scan")]["image"][:, 8, 8], torch.tensor([-1.0, -1.0, 1.0]))
    phone = ds[ds.keys.index("phone")]["image"]
    torch.testing.assert_close(phone[:, 1, 8], torch.tensor([1.0, -1.0, -1.0]))  # top: red
    torch.testing.assert_close(phone[:, 14, 8], torch.tensor([-1.0, -1.0, 1.0]))  # bottom: blue


def _png_header_only(path, side):
    """A tiny PNG whose header claims side x side pixels (a decompression bomb's opening)."""
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00\x00"))
                     + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_oversized_image_is_skipped_by_skip_bad_and_named_without_it(txt_folder, side):
    _png_header_only(txt_folder / "c.png", side)
    with pytest.warns(UserWarning, match=r"c\.png refused"):
        ds = FolderDataset(txt_folder, split="all", skip_bad=True)
    assert sorted(ds.keys) == ["a", "sub/b"]
    ds = FolderDataset(txt_folder, split="all")
    with pytest.raises(OSError, match=r"c\.png") as info:
        ds[ds.keys.index("c")]
    msg = str(info.value)
    assert "\n" not in msg and "skip_bad=True" in msg and "--set data.options.skip_bad=true" in msg
    # an image that turns bad after the dataset was built is skipped at access time like a corrupt one
    with pytest.warns(UserWarning, match=r"c\.png refused"):
        ds = FolderDataset(txt_folder, split="all", skip_bad=True)
    _png_header_only(txt_folder / "a.png", side)
    with pytest.warns(UserWarning, match=r"a\.png refused"):
        it = ds[ds.keys.index("a")]
    assert it["key"] != "a"
