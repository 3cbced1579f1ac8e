"""Opening whatever a user may drop: formats, modes, orientation, sizes, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cnnscope.core import images
from cnnscope.core.errors import ImageError


def _photo(w=64, h=48) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("suffix,fmt", [(".jpg", "JPEG"), (".png", "PNG"), (".bmp", "BMP"),
                                        (".webp", "WEBP"), (".tif", "TIFF"), (".gif", "GIF")])
def test_common_formats_open_as_rgb(tmp_path, suffix, fmt):
    path = tmp_path / f"img{suffix}"
    _photo().save(path, fmt)
    arr = images.open_image(path)
    assert arr.shape == (48, 64, 3) and arr.dtype == np.uint8


def test_lossless_png_round_trips_exactly(tmp_path):
    img = _photo()
    img.save(tmp_path / "a.png")
    assert np.array_equal(images.open_image(tmp_path / "a.png"), np.asarray(img))


def test_animated_gif_gives_first_frame(tmp_path):
    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue])
    arr = images.open_image(tmp_path / "anim.gif")
    assert arr[0, 0, 0] > 200 and arr[0, 0, 2] < 50


def test_rgba_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    img.save(tmp_path / "t.png")
    arr = images.open_image(tmp_path / "t.png")
    assert tuple(arr[0, 0]) == (255, 0, 0)
    assert tuple(arr[3, 3]) == (255, 255, 255)


def test_palette_with_transparency_and_grey_and_cmyk(tmp_path):
    pal = Image.new("P", (4, 4), 0)
    pal.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    pal.putpixel((1, 1), 1)
    pal.save(tmp_path / "p.png", transparency=0)
    arr = images.open_image(tmp_path / "p.png")
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[1, 1]) == (10, 200, 30)

    Image.new("L", (5, 3), 77).save(tmp_path / "g.png")
    assert np.all(images.open_image(tmp_path / "g.png") == 77)

    Image.new("CMYK", (5, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red in CMYK
    red = images.open_image(tmp_path / "c.jpg")[1, 1]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_sixteen_bit_and_float_images_are_rescaled(tmp_path):
    deep = np.array([[0, 65535], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    arr = images.open_image(tmp_path / "d.png")
    assert arr[0, 0, 0] == 0 and arr[0, 1, 0] == 255 and 120 <= arr[1, 0, 0] <= 135

    values = np.array([[-1.0, 0.0], [0.5, 1.0]], dtype=np.float32)
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    arr = images.open_image(tmp_path / "f.tif")
    assert arr[0, 0, 0] == 0 and arr[1, 1, 0] == 255 and 120 <= arr[0, 1, 0] <= 135


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white strip on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "o.jpg", exif=exif, quality=95)
    arr = images.open_image(tmp_path / "o.jpg")
    assert arr.shape == (40, 20, 3)  # portrait once rotated
    assert arr[2, 10].mean() > 200 and arr[-3, 10].mean() < 60  # the strip is now on top


def test_one_pixel_image(tmp_path):
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one.png")
    assert images.open_image(tmp_path / "one.png").tolist() == [[[1, 2, 3]]]


def test_huge_photo_is_downscaled(tmp_path):
    Image.new("RGB", (6000, 3000), (10, 20, 30)).save(tmp_path / "big.jpg")
    arr = images.open_image(tmp_path / "big.jpg")
    assert max(arr.shape[:2]) <= images.MAX_SIDE
    assert arr.shape[1] / arr.shape[0] == pytest.approx(2.0, rel=0.01)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    Image.new("1", (12_000, 12_000)).save(tmp_path / "bomb.png")  # 144 Mpx, a few kB on disk
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    with pytest.raises(ImageError, match="bomb.png.*too large"):
        images.open_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("content,reason", [(b"", "empty"), (b"hello, not a picture", "not an image")])
def test_bad_content_names_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=f"notes.png.*{reason}"):
        images.open_image(path)


def test_truncated_jpeg(tmp_path):
    _photo(256, 256).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="cut.jpg.*(damaged|truncated)"):
        images.open_image(tmp_path / "cut.jpg")


def test_folder_and_missing_file(tmp_path):
    with pytest.raises(ImageError, match="is a folder"):
        images.open_image(tmp_path)
    with pytest.raises(ImageError, match="does not exist"):
        images.open_image(tmp_path / "nope.jpg")
