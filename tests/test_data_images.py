"""dflib.data.images: every accepted format comes out as 8-bit RGB with the pixel values a viewer shows
(transparency on the documented background, 16-bit scaled, CMYK as PIL converts it, first frame), or is
refused with a message naming the file; oversized images are refused before decoding and skip_bad skips them."""

import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from dflib.data import images
from dflib.data.images import (
    BACKGROUND,
    IMAGE_EXTENSIONS,
    ImageTooLargeError,
    check_image,
    load_first_readable,
    load_rgb,
)

WHITE = BACKGROUND
assert WHITE == (255, 255, 255)  # documented: transparency is composited on white


def _png(path, arr, colour_type, bitdepth=16, width=None, height=None, idat=True):
    """A PNG written by hand (PIL cannot write 16-bit colour PNGs); width/height override the IHDR size."""
    h, w = arr.shape[:2]
    dtype = ">u2" if bitdepth == 16 else "u1"
    raw = b"".join(b"\x00" + np.ascontiguousarray(arr[y]).astype(dtype).tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width or w, height or h, bitdepth, colour_type, 0, 0, 0)
    data = chunk(b"IHDR", ihdr) + (chunk(b"IDAT", zlib.compress(raw)) if idat else b"") + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    return path


def _over(c, a, bg=255):
    """What a viewer shows for colour c with alpha a on the background (straight alpha)."""
    return round((a * c + (255 - a) * bg) / 255)


def _rgb(path):
    img = load_rgb(path)
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


# ---------------------------------------------------------------------------------------------------
# formats: (file name, writer, expected RGB of the first row, tolerance)
# ---------------------------------------------------------------------------------------------------


def _w_rgb_png(p):
    Image.fromarray(np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)).save(p)
    return [[10, 20, 30], [200, 100, 0]]


def _w_rgba_png(p):
    # opaque, fully transparent (its colour must not show), half transparent
    Image.fromarray(np.array([[[10, 20, 30, 255], [0, 0, 255, 0], [200, 100, 0, 128]]], np.uint8), "RGBA").save(p)
    return [[10, 20, 30], list(WHITE), [_over(200, 128), _over(100, 128), _over(0, 128)]]


def _w_palette_transparent_png(p):
    im = Image.new("P", (2, 1))
    im.putpalette([255, 0, 0, 0, 0, 255])
    im.putpixel((1, 0), 1)
    im.save(p, transparency=1)  # index 1 (blue) is transparent
    return [[255, 0, 0], list(WHITE)]


def _w_palette_alpha_png(p):
    im = Image.new("P", (3, 1))
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255])
    for x in range(3):
        im.putpixel((x, 0), x)
    im.save(p, transparency=bytes([255, 0, 64]))  # per-entry alpha (tRNS)
    return [[255, 0, 0], list(WHITE), [_over(0, 64), _over(0, 64), _over(255, 64)]]


def _w_gray_png(p):
    Image.fromarray(np.array([[0, 77, 255]], np.uint8), "L").save(p)
    return [[0, 0, 0], [77, 77, 77], [255, 255, 255]]


def _w_gray_colourkey_png(p):
    Image.fromarray(np.array([[7, 9]], np.uint8), "L").save(p, transparency=9)
    return [[7, 7, 7], list(WHITE)]


def _w_rgb_colourkey_png(p):
    Image.fromarray(np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)).save(p, transparency=(4, 5, 6))
    return [[1, 2, 3], list(WHITE)]


def _w_la_png(p):
    Image.fromarray(np.array([[[50, 255], [50, 0], [50, 100]]], np.uint8), "LA").save(p)
    return [[50] * 3, list(WHITE), [_over(50, 100)] * 3]


def _w_1bit_png(p):
    Image.fromarray(np.array([[True, False]])).convert("1").save(p)
    return [[255, 255, 255], [0, 0, 0]]


def _w_gray16_png(p):
    Image.fromarray(np.array([[0, 1000, 32768, 65535]], np.uint16)).save(p)  # mode I;16
    return [[v >> 8] * 3 for v in (0, 1000, 32768, 65535)]  # 0, 3, 128, 255 (not clipped to 255)


def _w_gray16_colourkey_png(p):
    Image.fromarray(np.array([[1000, 2000]], np.uint16)).save(p, transparency=2000)
    return [[1000 >> 8] * 3, list(WHITE)]


def _w_rgb16_png(p):
    _png(p, np.array([[[1000, 40000, 65535], [256, 511, 0]]], np.uint16), colour_type=2)
    return [[3, 156, 255], [1, 1, 0]]  # high byte, as PIL reads 16-bit colour


def _w_rgba16_png(p):
    _png(p, np.array([[[1000, 40000, 65535, 65535], [0, 0, 65535, 0]]], np.uint16), colour_type=6)
    return [[3, 156, 255], list(WHITE)]


def _w_la16_png(p):
    _png(p, np.array([[[40000, 65535], [40000, 32768]]], np.uint16), colour_type=4)
    return [[156] * 3, [_over(156, 128)] * 3]


def _w_rgb_jpeg(p):
    Image.new("RGB", (16, 16), (200, 30, 90)).save(p, quality=100)
    return [[200, 30, 90]] * 16


def _w_gray_jpeg(p):
    Image.new("L", (16, 16), 90).save(p, quality=100)
    return [[90, 90, 90]] * 16


def _cmyk_to_rgb(c, m, y, k):  # PIL's conversion: (255 - K) * (255 - C) / 255 per channel
    return [round((255 - k) * (255 - v) / 255) for v in (c, m, y)]


def _w_cmyk_jpeg(p):
    Image.new("CMYK", (16, 16), (10, 200, 30, 40)).save(p, quality=100)
    return [_cmyk_to_rgb(10, 200, 30, 40)] * 16


def _w_cmyk_tiff(p):
    Image.new("CMYK", (2, 1), (10, 200, 30, 40)).save(p)
    return [_cmyk_to_rgb(10, 200, 30, 40)] * 2


def _w_webp_rgba(p):
    Image.fromarray(np.array([[[10, 20, 30, 255], [9, 9, 9, 0]]], np.uint8), "RGBA").save(p, lossless=True, exact=True)
    return [[10, 20, 30], list(WHITE)]


def _w_webp_rgb(p):
    Image.new("RGB", (2, 1), (10, 200, 30)).save(p, lossless=True)
    return [[10, 200, 30]] * 2


def _w_gif_first_frame(p):
    frames = [Image.new("RGB", (2, 1), c).convert("P") for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return [[255, 0, 0]] * 2  # the first frame, not the last


def _w_gif_transparent(p):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 255, 0, 0, 0, 255])
    im.putpixel((1, 0), 1)
    im.save(p, transparency=1)
    return [[0, 255, 0], list(WHITE)]


def _w_bmp(p):
    Image.fromarray(np.array([[[10, 20, 30], [200, 100, 0]]], np.uint8)).save(p)
    return [[10, 20, 30], [200, 100, 0]]


def _w_tiff_rgba(p):
    Image.fromarray(np.array([[[10, 20, 30, 255], [9, 9, 9, 0]]], np.uint8), "RGBA").save(p)
    return [[10, 20, 30], list(WHITE)]


def _w_tiff_gray16(p):
    Image.fromarray(np.array([[0, 1000, 65535]], np.uint16)).save(p)
    return [[0] * 3, [3] * 3, [255] * 3]


FORMATS = {
    "rgb.png": (_w_rgb_png, 0),
    "rgba.png": (_w_rgba_png, 1),
    "palette_transparent.png": (_w_palette_transparent_png, 0),
    "palette_alpha.png": (_w_palette_alpha_png, 1),
    "gray.png": (_w_gray_png, 0),
    "gray_colourkey.png": (_w_gray_colourkey_png, 0),
    "rgb_colourkey.png": (_w_rgb_colourkey_png, 0),
    "la.png": (_w_la_png, 1),
    "bilevel.png": (_w_1bit_png, 0),
    "gray16.png": (_w_gray16_png, 0),
    "gray16_colourkey.png": (_w_gray16_colourkey_png, 0),
    "rgb16.png": (_w_rgb16_png, 0),
    "rgba16.png": (_w_rgba16_png, 0),
    "la16.png": (_w_la16_png, 1),
    "rgb.jpg": (_w_rgb_jpeg, 3),
    "gray.jpeg": (_w_gray_jpeg, 1),
    "cmyk.jpg": (_w_cmyk_jpeg, 3),
    "cmyk.tif": (_w_cmyk_tiff, 0),
    "rgba.webp": (_w_webp_rgba, 0),
    "rgb.webp": (_w_webp_rgb, 0),
    "frames.gif": (_w_gif_first_frame, 0),
    "transparent.gif": (_w_gif_transparent, 0),
    "rgb.bmp": (_w_bmp, 0),
    "rgba.tiff": (_w_tiff_rgba, 0),
    "gray16.tif": (_w_tiff_gray16, 0),
}


def test_every_listed_extension_is_covered():
    assert {"." + name.rsplit(".", 1)[1] for name in FORMATS} == set(IMAGE_EXTENSIONS)
    assert {".tif", ".tiff"} <= set(IMAGE_EXTENSIONS)  # PIL reads TIFF; the folder dataset lists it


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_format_comes_out_rgb_with_the_right_values(tmp_path, name):
    write, tol = FORMATS[name]
    path = tmp_path / name
    expected = np.array(write(path), dtype=int)
    got = _rgb(path)[0]
    assert got.shape == expected.shape, (name, got.shape)
    diff = np.abs(got - expected).max()
    assert diff <= tol, f"{name}: got {got.tolist()}, expected {expected.tolist()}"
    check_image(path)  # the skip_bad pre-check accepts it too


@pytest.mark.parametrize("arr", [np.array([[0.0, 0.5, 1.0]], np.float32), np.array([[0, 300, 70000]], np.int32)])
def test_float_and_int32_images_are_refused_naming_the_file(tmp_path, arr):
    path = tmp_path / "deep.tif"
    Image.fromarray(arr).save(path)
    with pytest.raises(OSError, match=r"deep\.tif.*32-bit") as info:
        load_rgb(path)
    assert "\n" not in str(info.value) and "skip_bad=True" in str(info.value)
    with pytest.raises(OSError, match=r"deep\.tif"):
        check_image(path)


def test_exif_orientation_is_applied_on_request(tmp_path):
    path = tmp_path / "phone.png"
    im = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], np.uint8))  # red | blue, stored sideways
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(path, exif=exif)
    assert load_rgb(path).size == (2, 1)  # the official pipeline's behaviour (cub/coco)
    upright = np.asarray(load_rgb(path, exif_transpose=True))
    assert upright.shape == (2, 1, 3)
    assert upright[0, 0].tolist() == [255, 0, 0] and upright[1, 0].tolist() == [0, 0, 255]  # red on top


# ---------------------------------------------------------------------------------------------------
# oversized images
# ---------------------------------------------------------------------------------------------------


def _bomb(path, side):
    """A few hundred bytes claiming side x side pixels (a decompression bomb's header)."""
    return _png(path, np.zeros((1, 1), np.uint8), colour_type=0, bitdepth=8, width=side, height=side)


@pytest.mark.parametrize("side", [10_000, 20_000])  # over MAX_PIXELS (PIL only warns); over PIL's 2x limit (PIL raises)
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    path = _bomb(tmp_path / "bomb.png", side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning either: refused before PIL decides
        with pytest.raises(ImageTooLargeError) as info:
            load_rgb(path)
        with pytest.raises(ImageTooLargeError):
            check_image(path)
    msg = str(info.value)
    assert isinstance(info.value, OSError)  # so that every skip_bad loop skips it
    assert "\n" not in msg and str(path) in msg and "skip_bad=True" in msg and "data.options.skip_bad" in msg


def test_documented_pixel_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (20, 20), (1, 2, 3)).save(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 399)
    with pytest.raises(ImageTooLargeError, match=r"big\.png.*20x20 = 400 pixels.*399.*MAX_PIXELS"):
        load_rgb(path)
    monkeypatch.setattr(images, "MAX_PIXELS", 400)
    assert load_rgb(path).size == (20, 20)
    monkeypatch.setattr(images, "MAX_PIXELS", None)
    assert load_rgb(path).size == (20, 20)


def test_skip_bad_loop_skips_an_oversized_image_like_an_unreadable_one(tmp_path):
    good = tmp_path / "good.png"
    Image.new("RGB", (4, 4), (9, 8, 7)).save(good)
    paths = [_bomb(tmp_path / "bomb.png", 20_000), good]
    with pytest.warns(UserWarning, match=r"skip_bad: image .*bomb\.png refused"):
        j, img = load_first_readable(lambda j: load_rgb(paths[j]), 0, 2, True, tmp_path)
    assert j == 1 and img.getpixel((0, 0)) == (9, 8, 7)
    with pytest.raises(OSError, match=r"bomb\.png.*skip_bad=True"):
        load_first_readable(lambda j: load_rgb(paths[j]), 0, 2, False, tmp_path)


def test_unreadable_file_message_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    with pytest.raises(OSError, match=r"broken\.png") as info:
        load_rgb(path)
    assert "\n" not in str(info.value) and "skip_bad=True" in str(info.value)
    with pytest.raises(FileNotFoundError, match=r"gone\.png"):
        load_rgb(tmp_path / "gone.png")
