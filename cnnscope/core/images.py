"""Open anything a user may drop as an RGB uint8 array, or say clearly why not.

Images are data, never code:
- only raster formats on an explicit list are decoded, recognised by their content, not by the
  file's name. PostScript, EPS and PDF are never opened: Pillow hands them to Ghostscript, a
  program that runs whatever the file says;
- only regular files are read (a named pipe or a device would hang or never end), at most
  ``MAX_FILE_BYTES`` of them (core/files.py);
- memory is bounded before decoding: the header's size times the bytes each pixel takes decoded
  must fit ``DECODE_BUDGET``. JPEGs are decoded at a reduced scale first, then reduced to
  ``MAX_SIDE`` in their own mode, before any conversion: the networks see a few hundred pixels,
  so nothing is lost.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError
from .files import FileRefused, human_bytes, read_bounded

# We check sizes ourselves, with clearer messages, and report damaged files as ImageError: Pillow's
# warnings (decompression bombs, corrupt EXIF) would only reach the user's terminal as noise. A
# filter set once here, not catch_warnings() around each decode, which is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")

#: Pillow plugins cnnscope decodes: all in-process raster decoders, none that run a program.
ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF")
#: Files larger than this are refused before they are read.
MAX_FILE_BYTES = 64_000_000
#: The decoded image may take at most this much memory (with the file's bytes: under 500 MB).
DECODE_BUDGET = 300_000_000
#: More pixels than this in the header and the file is refused as a likely decompression bomb.
MAX_PIXELS = 120_000_000
#: Larger images are reduced so their long side is this many pixels.
MAX_SIDE = 2048
#: Long side over short side: beyond this an image is a strip, and scaling its short side to a
#: network's input size would make its long side enormous.
MAX_ASPECT = 20
#: A progressive JPEG is decoded once per scan (ten or so in practice); thousands of empty scans
#: make a small file take hours.
MAX_JPEG_SCANS = 100
#: Measured decoding cost of a WebP, bytes per pixel: libwebp holds full canvases besides the image.
_WEBP_BYTES = 16
#: File types the open dialogs offer.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_SUPPORTED = "JPEG, PNG, BMP, GIF, WebP, TIFF"

#: Bytes per pixel as Pillow stores each mode (RGB takes 4: it is padded); others take 4.
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}
#: Modes whose resizing works on a premultiplied copy: twice the memory while reducing.
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")

#: Formats recognised only to say why they are refused (first bytes -> what they are).
_REFUSED_SIGNATURES = (
    (b"%!PS", "a PostScript/EPS file"),
    (b"\xc5\xd0\xd3\xc6", "an EPS file"),
    (b"%PDF", "a PDF document"),
    (b"<svg", "an SVG drawing"),
    (b"<?xml", "an XML (SVG?) file"),
)
_RUNS_CODE = ("a PostScript/EPS file", "an EPS file", "a PDF document")


def open_image(path: str | os.PathLike, timeout: float | None = None) -> np.ndarray:
    """Read an image file into a (H, W, 3) uint8 array; raise ImageError with the reason.

    ``timeout``: give up (ImageError) when reading the file takes longer, e.g. a stalled network
    drive; the engine thread passes one so that no file can hold it.
    """
    path = Path(path)
    try:
        data = read_bounded(path, MAX_FILE_BYTES, timeout, what="image")
    except FileRefused as exc:
        raise ImageError(str(exc)) from None
    return decode_image(data, path.name)


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes (a file's content, a clipboard) into (H, W, 3) uint8."""
    if not data:
        raise ImageError(f"'{name}' is empty (0 bytes).")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"'{name}' is {human_bytes(len(data))}; cnnscope reads images of up to "
                         f"{human_bytes(MAX_FILE_BYTES)}.")
    img = _open(data, name)
    width, height = img.size
    if width == 0 or height == 0:
        raise ImageError(f"'{name}' has no pixels ({width}x{height}).")
    if width * height > MAX_PIXELS:
        raise _too_large(name, width, height)
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"'{name}' is {width}x{height} pixels: a strip, not a picture. cnnscope "
                         f"opens images whose long side is at most {MAX_ASPECT} times the short one.")
    try:
        img.seek(0)  # animated GIF / multi-page TIFF: the first frame
        if img.format in ("JPEG", "MPO"):
            _check_jpeg_scans(data, name)
            img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale: fast, small
        _check_budget(img, name, (width, height))
        img.load()
        if max(img.size) > MAX_SIDE:  # reduce in the decoded mode, before any conversion
            # Pillow's reduce() step does not take 16-bit modes; resize alone does
            img.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS,
                          reducing_gap=None if img.mode.startswith("I;16") else 2.0)
        img = ImageOps.exif_transpose(img)
        rgb = _to_rgb(img)
    except Image.DecompressionBombError:
        raise _too_large(name, width, height) from None
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's decoders fail in many ways on bad data
        raise ImageError(f"'{name}' is damaged or truncated and could not be decoded "
                         f"({exc or type(exc).__name__}).") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def _open(data: bytes, name: str) -> Image.Image:
    """Pillow's lazy open (the header only), restricted to ALLOWED_FORMATS by content."""
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise ImageError(_not_an_image(data, name)) from None
    except Image.DecompressionBombError:
        raise _too_large(name) from None
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for broken headers
        raise ImageError(f"'{name}' could not be opened: {exc or type(exc).__name__}.") from None


def _not_an_image(data: bytes, name: str) -> str:
    head = data[:1024].lstrip()
    for signature, what in _REFUSED_SIGNATURES:
        if head.startswith(signature) or (signature == b"<svg" and b"<svg" in head):
            why = (" Such files are programs that run to draw their picture, so cnnscope never "
                   "opens them." if what in _RUNS_CODE else "")
            return (f"'{name}' is {what}, not a photo; cnnscope opens {_SUPPORTED} images only."
                    f"{why} Export it as PNG or JPEG first.")
    return f"'{name}' is not an image cnnscope can read (supported: {_SUPPORTED})."


def _check_jpeg_scans(data: bytes, name: str) -> None:
    """Refuse a JPEG with more scans than any real one has (each scan is a full decoding pass).

    Inside a JPEG's compressed data every 0xFF byte is followed by 0x00, so the bytes FF DA occur
    only as start-of-scan markers (or in an embedded thumbnail, which has a few)."""
    scans = data.count(b"\xff\xda")
    if scans > MAX_JPEG_SCANS:
        raise ImageError(f"'{name}' is a JPEG with {scans:,} scans; real ones have at most a few "
                         f"dozen, and decoding that many would take minutes. It was not opened.")


def decoding_bytes(img: Image.Image, full_size: tuple[int, int]) -> int:
    """How much memory decoding ``img`` (opened, not loaded; a JPEG maybe drafted to a smaller
    size) takes, from its header: the pixels as Pillow stores them, plus what each format's
    decoder holds besides. ``full_size``: the size the file's header states."""
    width, height = img.size
    per_pixel = _STORED_BYTES.get(img.mode, 4)
    stored = width * height * per_pixel * (2 if img.mode in _ALPHA_MODES else 1)
    pixels = full_size[0] * full_size[1]
    if img.format == "WEBP":
        return pixels * _WEBP_BYTES
    if img.format in ("JPEG", "MPO") and (img.info.get("progressive") or img.info.get("progression")):
        # libjpeg keeps every DCT coefficient of a progressive JPEG at full size (2 bytes each),
        # however small the output scale
        layers = getattr(img, "layer", None) or [("", 1, 1, 0)] * len(img.getbands())
        h_max = max(h for _, h, _, _ in layers) or 1
        v_max = max(v for _, _, v, _ in layers) or 1
        return stored + int(2 * pixels * sum(h * v for _, h, v, _ in layers) / (h_max * v_max))
    if img.format == "TIFF":  # libtiff decodes a whole strip or tile at a time into a buffer
        tags = img.tag_v2
        if 322 in tags and 323 in tags:
            stored += int(tags[322]) * int(tags[323]) * per_pixel
        else:
            stored += min(int(tags.get(278, height)), height) * width * per_pixel
    return stored


def _check_budget(img: Image.Image, name: str, full_size: tuple[int, int]) -> None:
    """Refuse an image whose decoding would take more than DECODE_BUDGET."""
    needed = decoding_bytes(img, full_size)
    if needed > DECODE_BUDGET:
        width, height = full_size
        kind = ("progressive JPEG" if img.format == "JPEG" else "WebP" if img.format == "WEBP"
                else _mode_words(img.mode))
        raise ImageError(
            f"'{name}' is too large to open safely: {width}x{height} {kind} pixels would take "
            f"{human_bytes(needed)} to decode, and cnnscope decodes at most "
            f"{human_bytes(DECODE_BUDGET)} per image. Save a smaller or 8-bit copy (a baseline "
            "JPEG is decoded at a reduced scale, so any size works).")


def _mode_words(mode: str) -> str:
    if mode.startswith("I;16"):
        return "16-bit"
    return {"F": "32-bit float", "I": "32-bit integer", "1": "1-bit", "L": "8-bit grey",
            "P": "palette", "LA": "grey + alpha", "RGBA": "RGBA", "CMYK": "CMYK"}.get(mode, mode)


def _too_large(name: str, width: int | None = None, height: int | None = None) -> ImageError:
    size = f" ({width}x{height} = {width * height / 1e6:.0f} megapixels)" if width and height else ""
    return ImageError(f"'{name}' is too large to open safely{size}; cnnscope opens images up to "
                      f"{MAX_PIXELS / 1e6:.0f} megapixels (larger ones are a common decompression-bomb "
                      "attack).")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: transparency composited on white, deep images rescaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _scaled_grey(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode == "L" and "transparency" in img.info:
        return _to_rgb(img.convert("LA"))
    return img.convert("RGB")


def _scaled_grey(img: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images: stretch their value range to 0..255."""
    arr = np.asarray(img, dtype=np.float32)
    if img.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        finite = np.isfinite(arr)
        lo, hi = (float(arr[finite].min()), float(arr[finite].max())) if finite.any() else (0.0, 1.0)
    scaled = np.nan_to_num((arr - lo) / max(hi - lo, 1e-12), nan=0.0, posinf=1.0, neginf=0.0)
    grey = (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")


def thumbnail(path: str | os.PathLike, size: int = 72, timeout: float | None = None) -> np.ndarray:
    """A small RGB preview of an image file (long side ``size``), through the same safe loader."""
    rgb = Image.fromarray(open_image(path, timeout))
    rgb.thumbnail((size, size), Image.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).copy()
