"""Images are data, never code: hostile files that run programs, hang readers or blow up memory."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from cnnscope.cli import main
from cnnscope.core.errors import ImageError
from cnnscope.core.images import MAX_SIDE, open_image

from . import builders
from .conftest import one_line_error, peak_memory_mb, within

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_postscript_named_like_a_photo_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "marker.txt"
    photo = builders.postscript_writing(tmp_path / "photo.jpg", marker)
    with pytest.raises(ImageError, match="photo.jpg' is a PostScript/EPS file.*never opens them"):
        within(5, lambda: open_image(photo))
    assert not marker.exists()


def test_looping_postscript_ends_at_once(tmp_path):
    loop = builders.postscript_looping(tmp_path / "loop.png")
    started = time.monotonic()
    with pytest.raises(ImageError, match="PostScript"):
        within(5, lambda: open_image(loop))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("head", [b"%PDF-1.4\n", b"\xc5\xd0\xd3\xc6" + bytes(28)])
def test_pdf_and_binary_eps_are_refused(tmp_path, head):
    path = tmp_path / "scan.png"
    path.write_bytes(head + b"x" * 100)
    with pytest.raises(ImageError, match="not a photo.*Export it as PNG"):
        open_image(path)


def test_format_is_told_by_content_not_by_name(tmp_path):
    shutil.copy(SAMPLES / "shape_star.png", tmp_path / "really_a_png.jpg")
    assert open_image(tmp_path / "really_a_png.jpg").shape[2] == 3


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    pipe = builders.fifo(tmp_path / "pipe.png")
    with pytest.raises(ImageError, match="pipe.png' is a named pipe"):
        within(5, lambda: open_image(pipe))


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_before_reading(device):
    if not Path(device).exists():
        pytest.skip(f"{device} is not on this system")
    with pytest.raises(ImageError, match="is a character device, not a file"):
        within(5, lambda: open_image(device))


def test_a_huge_sparse_file_is_refused_by_its_size(tmp_path):
    huge = builders.sparse(tmp_path / "huge.png")
    with pytest.raises(ImageError, match=r"huge.png' is 30.0 GB; cnnscope reads images of up to 64.0 MB"):
        within(5, lambda: open_image(huge))


SETUP = "from cnnscope.core.images import open_image\nfrom cnnscope.core.errors import ImageError"
WORK = ("try:\n    print('shape', open_image({path!r}).shape)\n"
        "except ImageError as exc:\n    print('refused', exc)")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    """Deep-bit-depth bombs: a few hundred KB each, gigabytes to a careless decoder."""
    folder = tmp_path_factory.mktemp("bombs")
    return {
        "float_tiff": builders.float_tiff_bomb(folder / "float.tif", 10950),
        "deep_png": builders.png_bomb(folder / "deep.png", 10950, 10950, bit_depth=16, colour_type=0),
        "rgba_png": builders.png_bomb(folder / "rgba.png", 8000, 8000, bit_depth=8, colour_type=6),
    }


@pytest.mark.parametrize("name, outcome", [
    ("float_tiff", "refused 'float.tif' is too large to open safely: 10950x10950 32-bit float pixels "
                   "would take"),
    ("deep_png", f"shape ({MAX_SIDE}, {MAX_SIDE}, 3)"),  # 240 MB decoded: opened, then reduced
    ("rgba_png", "refused 'rgba.png' is too large to open safely: 8000x8000 RGBA pixels"),
])
def test_bit_depth_bombs_are_decoded_in_bounded_memory_or_refused(bombs, name, outcome):
    peak, said = peak_memory_mb(SETUP, WORK.format(path=str(bombs[name])))
    assert said.startswith(outcome)
    assert peak < 500, f"decoding {name} added {peak:.0f} MB to the peak"


def _render(image: Path, out: Path) -> int:
    return main(["render", "--image", str(image), "--out", str(out)])


def test_render_refuses_postscript_fifo_and_devices_in_one_line(tmp_path, capsys):
    marker = tmp_path / "marker.txt"
    cases = {
        builders.postscript_writing(tmp_path / "photo.jpg", marker): "PostScript/EPS file",
        builders.postscript_looping(tmp_path / "loop.jpg"): "PostScript/EPS file",
        builders.fifo(tmp_path / "pipe.jpg"): "named pipe",
        builders.sparse(tmp_path / "sparse.jpg"): "30.0 GB",
    }
    for path, reason in cases.items():
        assert within(20, lambda: _render(path, tmp_path / "out")) == 1
        assert reason in one_line_error(capsys.readouterr().err)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_postscript_in_a_training_folder_is_skipped_and_never_runs(tmp_path, demo_model):
    from cnnscope.core.datasets import load_folder

    marker = tmp_path / "marker.txt"
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for k in range(3):
            shutil.copy(SAMPLES / "shape_star.png", tmp_path / "data" / name / f"{k}.png")
    builders.postscript_writing(tmp_path / "data" / "cats" / "evil.jpg", marker)
    builders.fifo(tmp_path / "data" / "dogs" / "pipe.png")
    data = within(30, lambda: load_folder(tmp_path / "data", demo_model.spec.preprocessing))
    assert len(data.train_labels) + len(data.val_labels) == 6
    assert [(Path(p).name, "PostScript" in why) for p, why in data.skipped] == [("evil.jpg", True)]
    assert not marker.exists()


def test_a_jpeg_with_thousands_of_empty_scans_is_refused_at_once(tmp_path):
    path = builders.jpeg_with_empty_scans(tmp_path / "scans.jpg")
    with pytest.raises(ImageError, match="scans.jpg' is a JPEG with 50,0.. scans"):
        within(5, lambda: open_image(path))


def test_a_progressive_jpeg_is_budgeted_at_full_size(tmp_path):
    """draft() shrinks the output, not libjpeg's buffer of every coefficient of a progressive file."""
    path = builders.progressive_jpeg_claiming(tmp_path / "p.jpg", 10950, 10950)
    with pytest.raises(ImageError, match="10950x10950 progressive JPEG pixels would take 3.."):
        within(5, lambda: open_image(path))


def test_a_large_lossless_webp_is_refused_by_its_decoding_cost(tmp_path):
    from PIL import Image

    path = tmp_path / "big.webp"
    Image.new("RGB", (4600, 4600), (120, 30, 200)).save(path, lossless=True)  # 1 KB on disk
    assert path.stat().st_size < 10_000
    with pytest.raises(ImageError, match="4600x4600 WebP pixels would take 338.6 MB"):
        within(5, lambda: open_image(path))


def test_a_one_pixel_strip_is_refused(tmp_path, demo_model):
    from PIL import Image

    from cnnscope.core.datasets import load_folder

    Image.new("RGB", (2048, 1)).save(tmp_path / "strip.png")
    with pytest.raises(ImageError, match="2048x1 pixels: a strip, not a picture"):
        open_image(tmp_path / "strip.png")
    for name in ("a", "b"):  # in a training folder it is skipped, not resized to 524,288 x 256
        (tmp_path / "data" / name).mkdir(parents=True)
        shutil.copy(SAMPLES / "shape_star.png", tmp_path / "data" / name / "ok.png")
        shutil.copy(tmp_path / "strip.png", tmp_path / "data" / name / "strip.png")
    data = load_folder(tmp_path / "data", demo_model.spec.preprocessing)
    assert sorted(Path(p).name for p, _ in data.skipped) == ["strip.png", "strip.png"]


def test_corrupt_exif_prints_no_warnings(tmp_path):
    """In a process of its own: pytest resets warning filters, so only a real run shows what a
    user sees. The image goes through core's loader and thumbnail maker, where Pillow warns; a
    bare process (no torch to import) keeps this under a second. Control: plain Pillow, in the same
    kind of process, does warn about this file."""
    import subprocess
    import sys

    path = builders.png_with_corrupt_exif(tmp_path / "exif.png")
    ours = (f"from cnnscope.core.images import open_image, thumbnail\n"
            f"open_image({str(path)!r}); thumbnail({str(path)!r}, 72)")
    plain = f"from PIL import Image, ImageOps\nImageOps.exif_transpose(Image.open({str(path)!r}))"
    for code, quiet in ((ours, True), (plain, False)):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert (done.stderr == "") == quiet, done.stderr


def test_a_folder_of_too_many_files_is_refused_before_decoding(tmp_path, demo_model, monkeypatch):
    from cnnscope.core import datasets
    from cnnscope.core.errors import DatasetError

    assert datasets.MAX_IMAGES == 10_000
    monkeypatch.setattr(datasets, "MAX_IMAGES", 200)  # the same check; 10,002 files took 1.5 s to make
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for k in range(101):
            (tmp_path / name / f"{k}.png").touch()  # empty: decoding any would fail
    with pytest.raises(DatasetError, match="holds 202 files; .* at most 200 images"):
        within(20, lambda: datasets.load_folder(tmp_path, demo_model.spec.preprocessing))
