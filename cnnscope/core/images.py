"""Open anything a user may drop as an RGB uint8 array, or say clearly why not.

Bounded memory: the pixel count is checked from the header before any decoding (decompression
bombs are refused), and large photos are reduced while decoding (JPEG draft mode) and then to
``MAX_SIDE``: the networks see a few hundred pixels, so nothing is lost.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError

#: More pixels than this in the header and the file is refused as a likely decompression bomb.
MAX_PIXELS = 120_000_000
#: Larger images are reduced so their long side is this many pixels.
MAX_SIDE = 2048
#: File types the open dialogs offer.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def open_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a (H, W, 3) uint8 array; raise ImageError with the reason."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"'{path.name}' is a folder, not an image file.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"'{path}' does not exist.") from None
    except OSError as exc:
        raise ImageError(f"'{path.name}' could not be read: {exc.strerror or exc}.") from None
    return decode_image(data, path.name)


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes (a file's content, a clipboard) into (H, W, 3) uint8."""
    if not data:
        raise ImageError(f"'{name}' is empty (0 bytes).")
    with warnings.catch_warnings():
        # We check the pixel count ourselves, with a clearer message than Pillow's warning.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(f"'{name}' is not an image cnnscope can read "
                             "(supported: JPEG, PNG, BMP, GIF, WebP, TIFF).") from None
        except Image.DecompressionBombError:
            raise _bomb(name) from None
        except Exception as exc:  # Pillow raises many types for broken headers
            raise ImageError(f"'{name}' could not be opened: {exc}.") from None
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise _bomb(name, width, height)
        if width == 0 or height == 0:
            raise ImageError(f"'{name}' has no pixels ({width}x{height}).")
        try:
            img.seek(0)  # animated GIF / multi-page TIFF: the first frame
            if img.format == "JPEG":
                img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale: fast, small
            img.load()
            img = ImageOps.exif_transpose(img)
            rgb = _to_rgb(img)
        except Image.DecompressionBombError:
            raise _bomb(name) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"'{name}' is damaged or truncated and could not be decoded ({exc}).") from None
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).copy()


def _bomb(name: str, width: int | None = None, height: int | None = None) -> ImageError:
    size = f" ({width}x{height} = {width * height / 1e6:.0f} megapixels)" if width else ""
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
    arr = np.asarray(img, dtype=np.float64)
    if img.mode.startswith("I;16"):
        lo, hi = 0.0, 65535.0
    else:
        finite = arr[np.isfinite(arr)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = np.nan_to_num((arr - lo) / max(hi - lo, 1e-12), nan=0.0, posinf=1.0, neginf=0.0)
    grey = (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
