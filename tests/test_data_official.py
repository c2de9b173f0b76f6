"""Official CUB / COCO layout (docs/official_behaviour.md §12) on a tiny generated fixture."""

import os
import pickle

import pytest
import torch
import torchvision.transforms.functional as TF

from dflib.data import build_dataset, collate
from dflib.data.images import load_rgb, pil_to_tensor
from dflib.data.official import (
    OfficialDataset,
    check_layout,
    cub_crop_box,
    image_path,
    load_cub_bboxes,
    make_fixture,
)
from dflib.data.vocab import UnsafePickleError


@pytest.fixture()
def cub(tmp_path):
    return make_fixture(tmp_path / "birds", kind="cub", n_train=4, n_test=2)


def _is_subsequence(sub, seq):
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


def test_cub_crop_box_hand_computed():
    # r = int(0.75*40) = 30; cx = int((21+40)/2) = 30; cy = int((40+30.5)/2) = 35
    assert cub_crop_box((10.5, 20.0, 40.0, 30.5), 100, 80) == (0, 5, 60, 65)
    # r = int(22.5) = 22; cx = int(190/2) = 95; cy = int(120/2) = 60 -> clipped right and bottom
    assert cub_crop_box((80.0, 50.0, 30.0, 20.0), 100, 70) == (73, 38, 100, 70)
    # fully inside: r = int(0.75*20) = 15, centre (50, 40)
    assert cub_crop_box((40.0, 30.0, 20.0, 20.0), 200, 200) == (35, 25, 65, 55)


def test_fixture_layout_and_bboxes(cub):
    root = cub["root"]
    assert check_layout(root, "cub").ok
    boxes = load_cub_bboxes(root / "CUB_200_2011")
    assert boxes == cub["bboxes"]
    ds = build_dataset("cub", root=root, imsize=32)
    assert len(ds) == 4 and ds.captions_per_image == 10 and ds.keys == cub["keys"]["train"]
    assert len(build_dataset("cub", root=root, split="test", imsize=32)) == 2
    assert ds.captions(1) == [" ".join(c.split()) for c in cub["captions"][ds.keys[1]]]
    os.remove(root / "CUB_200_2011" / "bounding_boxes.txt")
    rep = check_layout(root, "cub")
    assert not rep.ok and any("bounding_boxes.txt" in m for m in rep.missing)
    assert "bounding_boxes.txt" in str(rep)


def test_crop_and_resize_match_hand_computation(cub):
    imsize = 32
    ds = OfficialDataset(cub["root"], "cub", imsize=imsize, augment=False)
    for i in range(len(ds)):
        key = ds.keys[i]
        w, h = cub["sizes"][key]
        box = cub_crop_box(cub["bboxes"][key], w, h)
        crop = load_rgb(image_path(cub["root"], "cub", "train", key)).crop(box)
        assert ds.load_image(i).size == (box[2] - box[0], box[3] - box[1])
        resized = TF.resize(crop, 38)  # int(32 * 76 / 64) = 38 on the shorter side
        assert min(resized.size) == 38
        rw, rh = resized.size
        top, left = (rh - imsize) // 2, (rw - imsize) // 2
        expected = pil_to_tensor(resized.crop((left, top, left + imsize, top + imsize)))
        assert torch.equal(ds[i]["image"], expected)


def test_random_crop_and_flip_are_one_of_the_allowed_views(cub):
    imsize = 32
    ds = OfficialDataset(cub["root"], "cub", imsize=imsize, seed=1)
    flips = 0
    for trial in range(12):
        i = trial % len(ds)
        out = ds[i]["image"]
        resized = TF.resize(ds.load_image(i), 38)
        full = pil_to_tensor(resized)
        _, rh, rw = full.shape
        matches = []
        for top in range(rh - imsize + 1):
            for left in range(rw - imsize + 1):
                view = full[:, top : top + imsize, left : left + imsize]
                if torch.equal(out, view):
                    matches.append(False)
                if torch.equal(out, view.flip(-1)):
                    matches.append(True)
        assert matches, "output is not a crop (or flipped crop) of the resized image"
        flips += matches[0]
    assert 0 < flips < 12  # both flipped and unflipped views occur


def test_captions_and_subsampling(cub):
    ds = OfficialDataset(cub["root"], "cub", imsize=32, seed=0)
    vocab = ds.vocab
    seen_long = 0
    for trial in range(60):
        it = ds[trial % 4]
        ids = vocab.encode(it["caption"])
        key_caps = [vocab.encode(c) for c in cub["captions"][it["key"]]]
        assert ids in key_caps
        toks = it["tokens"][: it["length"]].tolist()
        assert it["length"] == min(len(ids), 18) and (it["tokens"][it["length"]:] == 0).all()
        assert _is_subsequence(toks, ids)
        if len(ids) > 18:
            seen_long += 1
    assert seen_long > 0  # caption 0 of every image has 22-30 words
    b = collate([ds[i] for i in range(3)])
    assert b["image"].shape == (3, 3, 32, 32) and b["tokens"].shape == (3, 18) and "attrs" not in b


def test_reproducible_with_seed(cub):
    a_ds = OfficialDataset(cub["root"], "cub", imsize=32, seed=5)
    a = [a_ds[i % 4] for i in range(8)]
    b_ds = OfficialDataset(cub["root"], "cub", imsize=32, seed=5)
    b = [b_ds[i % 4] for i in range(8)]
    c_ds = OfficialDataset(cub["root"], "cub", imsize=32, seed=6)
    c = [c_ds[i % 4] for i in range(8)]
    assert all(torch.equal(x["image"], y["image"]) and torch.equal(x["tokens"], y["tokens"]) for x, y in zip(a, b))
    assert any(not torch.equal(x["tokens"], y["tokens"]) or not torch.equal(x["image"], y["image"]) for x, y in zip(a, c))


def test_coco_layout_uses_val2014_for_test(tmp_path):
    info = make_fixture(tmp_path / "coco", kind="coco", n_train=3, n_test=2)
    ds = build_dataset("coco", root=info["root"], split="test", imsize=32)
    assert ds.captions_per_image == 5 and len(ds) == 2
    assert image_path(info["root"], "coco", "test", ds.keys[0]).parent.name == "val2014"
    it = ds[0]
    assert it["key"].startswith("COCO_val2014_") and it["image"].shape == (3, 32, 32)


def test_missing_and_corrupt_images_name_the_file(cub):
    root = cub["root"]
    key0, key1 = cub["keys"]["train"][:2]
    os.remove(image_path(root, "cub", "train", key0))
    ds = OfficialDataset(root, "cub", imsize=32)
    with pytest.raises(FileNotFoundError, match=key0.split("/")[-1]):
        ds[0]
    with pytest.warns(UserWarning, match="1 of 4"):
        ds = OfficialDataset(root, "cub", imsize=32, skip_bad=True)
    assert len(ds) == 3 and key0 not in ds.keys
    bad = image_path(root, "cub", "train", key1)
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(OSError, match=key1.split("/")[-1]):
        OfficialDataset(root, "cub", imsize=32)[1]
    with pytest.warns(UserWarning, match="1 of 4"):
        ds = OfficialDataset(root, "cub", imsize=32, skip_bad=True)
    with pytest.warns(UserWarning, match=key1.split("/")[-1]):
        it = ds[0]
    assert it["key"] == cub["keys"]["train"][2]


def test_missing_or_malicious_captions_pickle(cub, tmp_path):
    root = cub["root"]
    pk = root / "captions_DAMSM.pickle"
    os.remove(pk)
    with pytest.raises(FileNotFoundError, match="captions_DAMSM.pickle"):
        OfficialDataset(root, "cub")

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    pk.write_bytes(pickle.dumps([[], [], {0: "<end>"}, Evil()], protocol=2))
    with pytest.raises(UnsafePickleError, match="captions_DAMSM.pickle"):
        OfficialDataset(root, "cub")
    assert not (tmp_path / "pwned").exists()
    pk.write_bytes(pickle.dumps([[[1]], [], {0: "<end>", 1: "a"}, {"<end>": 0, "a": 1}], protocol=2))
    with pytest.raises(ValueError, match="4 images"):
        OfficialDataset(root, "cub")


def test_prepare_helpers_metadata_zip_and_checksums(cub, tmp_path):
    import hashlib
    import zipfile

    from dflib.data.download import install_metadata, verify

    z = tmp_path / "birds.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for rel in ("captions_DAMSM.pickle", "train/filenames.pickle", "test/filenames.pickle"):
            zf.write(cub["root"] / rel, f"birds/{rel}")
    new_root = tmp_path / "new" / "birds"
    install_metadata(z, new_root)
    rep = check_layout(new_root, "cub")
    assert not any("pickle" in m for m in rep.missing) and any("images.txt" in m for m in rep.missing)
    md5 = hashlib.md5(z.read_bytes()).hexdigest()
    assert verify(z, md5=md5)
    with pytest.raises(ValueError, match="birds.zip"):
        verify(z, md5="0" * 32)
    assert not verify(z, md5="0" * 32, strict=False)
