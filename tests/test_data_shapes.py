"""The procedural `shapes` dataset: determinism, captions <-> attributes, pixel colours, speed."""

import itertools

import numpy as np
import pytest
import torch

from dflib.data import build_dataset, collate
from dflib.data.shapes import (
    COLOR_NAMES,
    COLOR_RGB,
    POSITION_NAMES,
    SHAPE_NAMES,
    SIZE_RADIUS,
    ShapesDataset,
    parse_caption,
    shape_alpha,
    shapes_vocab,
)


def test_item_structure_and_collate():
    ds = build_dataset("shapes", imsize=32, seed=3, length=8)
    it = ds[0]
    assert set(it) == {"image", "tokens", "length", "caption", "key", "attrs", "stated"}
    assert it["image"].shape == (3, 32, 32) and it["image"].dtype == torch.float32
    assert it["image"].min() >= -1 and it["image"].max() <= 1
    assert it["tokens"].shape == (18,) and it["tokens"].dtype == torch.int64
    assert 1 <= it["length"] <= 18 and (it["tokens"][it["length"]:] == 0).all()
    assert (it["tokens"][: it["length"]] > 0).all()
    assert ds.vocab.decode(it["tokens"]) == " ".join(ds.vocab.tokenize(it["caption"]))
    assert it["caption"] in ds.captions(0)
    b = collate([ds[i] for i in range(4)])
    assert b["image"].shape == (4, 3, 32, 32) and b["tokens"].shape == (4, 18) and b["length"].shape == (4,)
    assert b["attrs"]["shape"].shape == (4,) and b["attrs"]["shape"].dtype == torch.int64
    assert len(b["caption"]) == 4 and len(set(b["key"])) == 4


def test_same_seed_same_bytes_different_seed_differs():
    a = ShapesDataset(imsize=48, seed=7, length=16)
    b = ShapesDataset(imsize=48, seed=7, length=16)
    c = ShapesDataset(imsize=48, seed=8, length=16)
    for i in (0, 5, 15):
        assert a.image(i).numpy().tobytes() == b.image(i).numpy().tobytes()
        assert a.captions(i) == b.captions(i) and a.scene(i) == b.scene(i)
    assert any(not torch.equal(a.image(i), c.image(i)) for i in range(16))
    # item i does not depend on dataset length or on which items were read before
    d = ShapesDataset(imsize=48, seed=7, length=1000)
    _ = [d[j] for j in range(3)]
    assert torch.equal(d.image(15), a.image(15))
    # train and test differ
    t = ShapesDataset(split="test", imsize=48, seed=7, length=16)
    assert any(a.scene(i) != t.scene(i) for i in range(16))


def test_caption_draws_reproducible_with_seed():
    a = ShapesDataset(imsize=32, seed=1, length=50)
    b = ShapesDataset(imsize=32, seed=1, length=50)
    ca = [a[i]["caption"] for i in range(50)]
    assert ca == [b[i]["caption"] for i in range(50)]
    assert len({a[0]["caption"] for _ in range(30)}) > 1  # a new caption is drawn per access


def test_every_caption_parses_back_to_attributes():
    ds = ShapesDataset(imsize=32, seed=0, length=300)
    n_two = 0
    vocab = shapes_vocab()
    for i in range(len(ds)):
        attrs = ds.scene(i).attrs()
        n_two += attrs["n_objects"] == 2
        caps = ds.captions(i)
        assert 5 <= len(caps) <= 10
        for cap in caps:
            parsed = parse_caption(cap)
            assert parsed["shape"] == attrs["shape"] and parsed["color"] == attrs["color"], cap
            for k, v in parsed.items():
                assert attrs[k] == v, (cap, k, v, attrs)
            vocab.encode(cap)  # every word is in the vocabulary (would warn/raise otherwise)
    assert 100 < n_two < 200  # about half the images have two objects


def test_parse_caption_examples():
    assert parse_caption("a small red circle in the top left") == {
        "shape": 0, "color": 0, "size": 0, "position": POSITION_NAMES.index("top left")}
    p = parse_caption("there is a big blue square on a yellow background")
    assert p == {"shape": 1, "color": 2, "size": 1, "background": COLOR_NAMES.index("yellow")}
    p = parse_caption("a green heart at the bottom and a tiny black star on the right")
    assert p["position"] == POSITION_NAMES.index("bottom") and p["position2"] == POSITION_NAMES.index("right")
    assert p["shape2"] == SHAPE_NAMES.index("star") and p["size2"] == 0
    with pytest.raises(ValueError, match="names no coloured shape"):
        parse_caption("a lovely picture")


def test_vocab_is_seed_independent_and_covers_names():
    v = shapes_vocab()
    assert ShapesDataset(seed=0).vocab == ShapesDataset(seed=99).vocab == v
    for w in itertools.chain(SHAPE_NAMES, COLOR_NAMES, ("small", "big", "background", "left", "top")):
        assert w in v


def test_colours_are_well_separated():
    rgb = np.array([COLOR_RGB[c] for c in COLOR_NAMES], dtype=float)
    d = np.linalg.norm(rgb[:, None] - rgb[None], axis=-1)
    assert len(COLOR_NAMES) >= 8 and len(SHAPE_NAMES) >= 6
    assert d[~np.eye(len(rgb), dtype=bool)].min() > 100


@pytest.mark.parametrize("imsize", [32, 64, 100, 256])
def test_pixels_have_the_named_colours(imsize):
    ds = ShapesDataset(imsize=imsize, seed=2, length=40)
    for i in range(40):
        s = ds.scene(i)
        img = ((ds.image(i).numpy() + 1) * 127.5).round()
        row, col = divmod(s.position, 3)
        cx = int((col + 0.5) * imsize / 3) + s.jitter[0]
        cy = int((row + 0.5) * imsize / 3) + s.jitter[1]
        np.testing.assert_allclose(img[:, cy, cx], COLOR_RGB[COLOR_NAMES[s.color]], atol=0.5)
        corner = next(p for p in (0, 2, 6, 8) if p not in (s.position, s.position2))
        y, x = (0 if corner < 3 else imsize - 1), (0 if corner % 3 == 0 else imsize - 1)
        np.testing.assert_allclose(img[:, y, x], COLOR_RGB[COLOR_NAMES[s.background]], atol=0.5)
        assert s.background != s.color and (s.n_objects == 1 or s.background != s.color2)


def test_shape_masks_differ_and_sizes_scale():
    masks = {s: shape_alpha(s, 10.0) for s in SHAPE_NAMES}
    for a, b in itertools.combinations(SHAPE_NAMES, 2):
        assert np.abs(masks[a] - masks[b]).mean() > 0.05, (a, b)
    assert masks["circle"].sum() == pytest.approx(np.pi * 100, rel=0.02)
    assert masks["square"].sum() == pytest.approx(4 * 8.2**2, rel=0.03)
    ds = ShapesDataset(imsize=96, seed=0, length=200, max_objects=1)
    areas = {0: [], 1: []}
    for i in range(200):
        s = ds.scene(i)
        if s.shape == 0:  # circles: covered area ~ pi r^2
            img = ds.image(i).numpy()
            bg = (np.array(COLOR_RGB[COLOR_NAMES[s.background]]) / 127.5 - 1)[:, None, None]
            areas[s.size].append((np.abs(img - bg).max(0) > 0.5).sum())
    r = {k: SIZE_RADIUS[n] * 96 for k, n in enumerate(("small", "big"))}
    for k in (0, 1):
        assert np.mean(areas[k]) == pytest.approx(np.pi * r[k] ** 2, rel=0.15)


def test_max_objects_one_and_bad_arguments():
    ds = ShapesDataset(max_objects=1, length=100)
    assert all(ds.scene(i).n_objects == 1 for i in range(100))
    with pytest.raises(ValueError, match="imsize"):
        ShapesDataset(imsize=16)
    with pytest.raises(ValueError, match="max_objects"):
        ShapesDataset(max_objects=3)
    with pytest.raises(IndexError):
        ds[100]


def test_dataloader_workers_give_identical_images():
    ds = ShapesDataset(imsize=32, seed=4, length=8)
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate)
    imgs = torch.cat([b["image"] for b in dl])
    assert torch.equal(imgs, torch.stack([ds.image(i) for i in range(8)]))


def test_build_dataset_rejects_bad_requests():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        build_dataset("mnist")
    with pytest.raises(ValueError, match="needs root"):
        build_dataset("cub")
    with pytest.raises(ValueError, match="split"):
        build_dataset("shapes", split="val")


def test_object_scale_enlarges_objects_and_keeps_attributes():
    from dflib.data.shapes import ShapesDataset

    small = ShapesDataset(imsize=32, seed=3, max_objects=1, length=40)
    big = ShapesDataset(imsize=32, seed=3, max_objects=1, length=40, object_scale=1.5)
    grew = 0
    for i in range(40):
        a, b = small[i], big[i]
        assert a["attrs"] == b["attrs"] and a["caption"] == b["caption"]
        bg = a["image"][:, 0, 0] if a["attrs"]["position"] != 0 else a["image"][:, -1, -1]
        area = lambda im: ((im - bg[:, None, None]).abs().sum(0) > 0.1).sum().item()  # noqa: E731
        grew += area(b["image"]) > area(a["image"])
    assert grew >= 36  # a few corner objects are clipped by the border
    with pytest.raises(ValueError, match="object_scale"):
        ShapesDataset(imsize=32, object_scale=3.0)


def test_center_layout_and_gray_background():
    import numpy as np

    from dflib.data.shapes import BACKGROUND_NAMES, COLOR_NAMES, ShapesDataset, parse_caption

    ds = ShapesDataset(imsize=32, seed=1, max_objects=1, length=60, layout="center", background="gray",
                       object_scale=2.0, captions_per_image=4)
    gray = 128 / 127.5 - 1.0
    for i in range(60):
        item = ds[i]
        img, attrs = item["image"], item["attrs"]
        assert attrs["position"] == 4 and attrs["background"] == BACKGROUND_NAMES.index("gray") == len(COLOR_NAMES)
        assert torch.allclose(img[:, 0, 0], torch.full((3,), gray), atol=1e-6)  # corners are plain gray
        mask = (img - gray).abs().sum(0) > 0.05
        rows, cols = np.nonzero(mask.numpy())
        assert abs(rows.mean() - 15.5) <= 6.5 and abs(cols.mean() - 15.5) <= 6.5  # jitter <= 4 px + shape asymmetry
        for k in range(4):
            parsed = parse_caption(ds.caption(i, k))
            assert parsed["shape"] == attrs["shape"] and parsed["color"] == attrs["color"]
            assert parsed.get("background", attrs["background"]) == attrs["background"]
    assert "gray" in ds.vocab.wordtoix and "grey" in ds.vocab.wordtoix
    # the default layout's items are unchanged by the new options
    a, b = ShapesDataset(imsize=32, seed=1, length=5), ShapesDataset(imsize=32, seed=1, length=5, layout="grid")
    assert all(torch.equal(a[i]["image"], b[i]["image"]) and a.caption(i, 0) == b.caption(i, 0) for i in range(5))
    with pytest.raises(ValueError, match="layout"):
        ShapesDataset(layout="diagonal")
    with pytest.raises(ValueError, match="max_objects=1"):
        ShapesDataset(layout="center", max_objects=2)
    with pytest.raises(ValueError, match="background"):
        ShapesDataset(background="pink")


def test_fixed_object_colour_background_excludes_that_colour():
    from dflib.data.shapes import COLOR_NAMES, ShapesDataset

    ds = ShapesDataset(imsize=32, seed=2, max_objects=2, length=80, background="black")
    black = COLOR_NAMES.index("black")
    for i in range(80):
        sc = ds.scene(i)
        assert sc.background == black and sc.color != black and (sc.n_objects == 1 or sc.color2 != black)


def test_fixed_size_keeps_every_other_attribute():
    from dflib.data.shapes import SIZE_NAMES, ShapesDataset

    a = ShapesDataset(imsize=32, seed=4, length=30)
    b = ShapesDataset(imsize=32, seed=4, length=30, size="big")
    for i in range(30):
        sa, sb = a.scene(i), b.scene(i)
        assert sb.size == SIZE_NAMES.index("big") and (sb.n_objects == 1 or sb.size2 == sb.size)
        assert (sa.shape, sa.color, sa.background, sa.position, sa.n_objects) == (sb.shape, sb.color, sb.background, sb.position, sb.n_objects)
    with pytest.raises(ValueError, match="size"):
        ShapesDataset(size="medium")


def test_jitter_zero_puts_every_centred_object_at_the_same_place():
    from dflib.data.shapes import ShapesDataset

    ds = ShapesDataset(imsize=32, seed=5, max_objects=1, length=40, layout="center", background="gray",
                       size="big", jitter=0)
    assert all(ds.scene(i).jitter == (0, 0, 0, 0) for i in range(40))
    free = ShapesDataset(imsize=32, seed=5, max_objects=1, length=40, layout="center", background="gray", size="big")
    assert any(free.scene(i).jitter != (0, 0, 0, 0) for i in range(40))
    same_shape = [i for i in range(40) if ds.scene(i).shape == ds.scene(0).shape]
    masks = [((ds[i]["image"] - ds[i]["image"][:, :1, :1]).abs().sum(0) > 0.05) for i in same_shape]
    assert len(masks) > 1 and all(torch.equal(m, masks[0]) for m in masks)  # one template per shape
    with pytest.raises(ValueError, match="jitter"):
        ShapesDataset(imsize=32, jitter=9)


# --------------------------------------------------------------------------------------------------
# data with freedom: layout='spread', background lists, positions, captions that state some attributes
# --------------------------------------------------------------------------------------------------
FREE = dict(imsize=32, max_objects=1, layout="spread", object_scale=1.5, background=["gray", "black", "white"],
            captions_per_image=4, state_size=0.5, state_position=0.5, state_background=0.5)


def _digest(ds, n=30):
    import hashlib

    h = hashlib.sha256()
    for i in range(n):
        it = ds[i]
        h.update(it["image"].numpy().tobytes())
        h.update(it["caption"].encode())
        h.update(it["tokens"].numpy().tobytes())
        h.update(repr(sorted(it["attrs"].items())).encode())
    return h.hexdigest()[:16]


def test_original_options_keep_their_bytes():
    # digests of the code before layout='spread' and the state_* options existed
    assert _digest(ShapesDataset(imsize=32, seed=3, length=30)) == "8de0b99dc9c9b4c1"
    preset = dict(max_objects=1, captions_per_image=3, layout="center", background="gray", object_scale=2.0,
                  size="big", jitter=0)
    assert _digest(ShapesDataset(imsize=32, seed=3, length=30, **preset)) == "fb840dcabf43b65a"
    assert _digest(ShapesDataset(imsize=64, seed=3, length=30, background="black", size="small")) == "0fb8c238fea2d303"
    assert len(shapes_vocab()) == 61  # the stated templates add no word


def _mask(img, bg_rgb):
    bg = torch.tensor(bg_rgb, dtype=torch.float32)[:, None, None] / 127.5 - 1.0
    return (img - bg).abs().amax(0) > 0.5


@pytest.mark.parametrize("scale,jitter", [(1.0, None), (1.5, None), (1.5, 0), (2.0, 0)])
def test_spread_objects_lie_inside_on_their_lattice_point(scale, jitter):
    from dflib.data.shapes import BACKGROUND_NAMES, BACKGROUND_RGB

    ds = ShapesDataset(imsize=32, seed=1, max_objects=1, layout="spread", object_scale=scale, jitter=jitter,
                       background="gray", length=120)
    centres = ds.position_centres() * 32 - 0.5  # (9,2) pixel indices
    j = 1 if jitter is None else jitter
    step = centres[1, 1] - centres[0, 0]
    assert step >= 2 * j + 2
    for i in range(120):
        s = ds.scene(i)
        img = ds.image(i)
        m = _mask(img, BACKGROUND_RGB[BACKGROUND_NAMES[s.background]])
        assert not (m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any()), (i, s)  # wholly inside
        row, col = divmod(s.position, 3)
        cx = int((col + 0.5) * 32 / 3) + s.jitter[0]
        cy = int((row + 0.5) * 32 / 3) + s.jitter[1]
        assert abs(cy - centres[s.position, 0]) <= j and abs(cx - centres[s.position, 1]) <= j
        # the pixel at the object's centre has the object's colour
        np.testing.assert_allclose(((img[:, cy, cx] + 1) * 127.5).round().numpy(),
                                   COLOR_RGB[COLOR_NAMES[s.color]], atol=0.5)
        if s.shape in (0, 1):  # circle, square: the mask is centred on the lattice point + shift
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert abs(ys.float().mean() - cy) < 0.51 and abs(xs.float().mean() - cx) < 0.51
    with pytest.raises(ValueError, match="no room"):
        ShapesDataset(imsize=32, max_objects=1, layout="spread", object_scale=2.0, jitter=3)
    with pytest.raises(ValueError, match="max_objects=1"):
        ShapesDataset(layout="spread", max_objects=2)


def test_stated_captions_parse_back_to_the_rendered_attributes():
    from dflib.data.shapes import CAPTION_ATTRIBUTES

    ds = ShapesDataset(seed=2, length=400, **FREE)
    vocab = shapes_vocab()
    seen = set()
    for i in range(len(ds)):
        attrs = ds.scene(i).attrs()
        plan = ds.statement_plan(i)
        for k in range(ds.captions_per_image):
            it = ds.item(i, k)
            cap, stated = it["caption"], it["stated"]
            assert stated == plan[k] and stated["color"] and stated["shape"]
            parsed = parse_caption(cap)
            assert {a for a in CAPTION_ATTRIBUTES if a in parsed} == {a for a, v in stated.items() if v}, cap
            for a, v in parsed.items():
                assert attrs[a] == v, (cap, a, v, attrs)
            assert it["attrs"] == attrs
            ids = vocab.encode(cap, warn=False)
            assert len(ids) == len(vocab.tokenize(cap))  # no unknown word
            seen.add(tuple(stated[a] for a in ("size", "position", "background")))
    assert len(seen) == 8  # every combination of stated / open occurs


@pytest.mark.parametrize("k,p", [(4, (0.5, 0.25, 0.75)), (5, (0.0, 1.0, 0.4)), (1, (1.0, 0.0, 1.0))])
def test_fraction_of_captions_stating_an_attribute_equals_the_option(k, p):
    opts = {**FREE, "captions_per_image": k, "state_size": p[0], "state_position": p[1], "state_background": p[2]}
    ds = ShapesDataset(seed=0, length=300, **opts)
    want = dict(zip(("size", "position", "background"), p))
    for i in range(300):
        plan = ds.statement_plan(i)
        for a, frac in want.items():
            assert sum(s[a] for s in plan) == round(frac * k)  # exact per image when frac * k is whole
    # not whole: rounded at random, right on average, independent of the attribute's value
    ds = ShapesDataset(seed=0, length=3000, **{**FREE, "captions_per_image": 3, "state_position": 0.5})
    counts = np.array([[sum(s[a] for s in ds.statement_plan(i)) for a in ("size", "position")] for i in range(3000)])
    assert set(np.unique(counts)) == {1, 2}
    assert np.abs(counts.mean(0) / 3 - 0.5).max() < 0.02  # sd of the mean ~0.003
    small = np.array([ds.scene(i).size == 0 for i in range(3000)])
    assert abs(counts[small, 0].mean() - counts[~small, 0].mean()) < 0.1


def test_background_lists_positions_and_the_allowed_values():
    from dflib.data.shapes import BACKGROUND_NAMES

    ds = ShapesDataset(imsize=32, seed=4, max_objects=1, layout="spread", background=["gray", "black"],
                       positions=["left", "center", "right"], size="big", length=600)
    gray, black = BACKGROUND_NAMES.index("gray"), BACKGROUND_NAMES.index("black")
    scenes = [ds.scene(i) for i in range(600)]
    assert {s.background for s in scenes} == {gray, black}
    assert {s.position for s in scenes} == {3, 4, 5} and {s.size for s in scenes} == {1}
    assert all(s.color != s.background for s in scenes)
    assert {s.color for s in scenes} == set(range(len(COLOR_NAMES)))  # black objects go on gray
    assert ds.allowed("position") == (3, 4, 5) and ds.allowed("background") == (black, gray)
    assert ds.free_attributes() == ("color", "shape", "position", "background")
    assert ShapesDataset(layout="spread", max_objects=1, positions=["top_left", 8, "centre"]).positions == (0, 8, 4)
    assert ShapesDataset(max_objects=1, background=["gray"]).background == "gray"
    with pytest.raises(ValueError, match="unknown position"):
        ShapesDataset(layout="spread", max_objects=1, positions=["upstairs"])
    with pytest.raises(ValueError, match="background"):
        ShapesDataset(max_objects=1, background=["gray", "pink"])
    with pytest.raises(ValueError, match="max_objects=1"):
        ShapesDataset(background=["gray", "black"], max_objects=2)
    with pytest.raises(ValueError, match="state_size"):
        ShapesDataset(max_objects=1, state_size=1.5)
    with pytest.raises(ValueError, match="max_objects=1"):
        ShapesDataset(max_objects=2, state_position=0.5)


def test_sample_scene_is_the_data_distribution_with_stated_attributes_fixed():
    import random

    ds = ShapesDataset(seed=7, length=6000, **FREE)
    r = random.Random(0)
    fixed = {"color": COLOR_NAMES.index("white"), "shape": 2}
    draws = [ds.sample_scene(r, fixed) for _ in range(3000)]
    assert all(s.color == fixed["color"] and s.shape == 2 for s in draws)
    pos = np.bincount([s.position for s in draws], minlength=9) / 3000
    assert np.abs(pos - 1 / 9).max() < 0.03
    bg = np.bincount([s.background for s in draws], minlength=9) / 3000
    assert bg[COLOR_NAMES.index("white")] == 0 and abs(bg[8] - 0.5) < 0.04 and abs(bg[7] - 0.5) < 0.04
    # the unconditional draws match the dataset's items (same process): colour / background frequencies
    items = [ds.scene(i) for i in range(6000)]
    free = [ds.sample_scene(r) for _ in range(6000)]
    for attr, m in (("color", 8), ("background", 9), ("size", 2)):
        a = np.bincount([getattr(s, attr) for s in items], minlength=m) / 6000
        b = np.bincount([getattr(s, attr) for s in free], minlength=m) / 6000
        assert np.abs(a - b).max() < 0.03, attr
    # P(colour | background) ∝ P(background | colour) = 1 / #(backgrounds other than the colour): given a black
    # background, white objects (2 other backgrounds) weigh 1/2 and the 6 others (3 other backgrounds) 1/3 each
    only_bg = [ds.sample_scene(r, {"background": COLOR_NAMES.index("black")}) for _ in range(3000)]
    col = np.bincount([s.color for s in only_bg], minlength=8) / 3000
    want = np.array([1 / 3] * 6 + [1 / 2, 0]) / (6 / 3 + 1 / 2)
    assert col[7] == 0 and np.abs(col - want).max() < 0.025
    with pytest.raises(ValueError, match="never occurs"):
        ds.sample_scene(r, {"background": COLOR_NAMES.index("red")})
    with pytest.raises(ValueError, match="never equals"):
        ds.sample_scene(r, {"color": 7, "background": 7})


def test_free_data_is_cheap_to_render():
    import time

    ds = ShapesDataset(seed=0, length=2000, **FREE)
    _ = ds[0]
    t = time.perf_counter()
    for i in range(400):
        ds[i]
    assert (time.perf_counter() - t) / 400 < 5e-3  # ~0.2 ms per item measured on the 2-core build machine
