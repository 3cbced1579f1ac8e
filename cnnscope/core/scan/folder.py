"""The images of a folder to scan: class subfolders (``cats/``, ``dogs/``) or a flat folder,
in a fixed order (sorted paths), so that an image's index means the same in every run, on every
worker and after a resume."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import ScanError
from ..images import IMAGE_SUFFIXES

MAX_SCAN_IMAGES = 2_000_000  # the index arrays and listing stay small next to the features


@dataclass(frozen=True)
class ImageEntry:
    """One image of the folder: its path relative to the folder, and its class (the subfolder
    it sits in, "" in a flat folder)."""

    path: str
    label: str


def list_images(root: Path, exclude: Path | None = None) -> list[ImageEntry]:
    """Every image file under ``root`` (by its suffix; the content is checked when it is read),
    hidden files and folders left out, sorted (linked folders are not descended into), and the
    folder ``exclude`` (a scan kept inside the folder it scans: its own heatmaps are no data)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise ScanError(f"'{root}' is not a folder of images.")
    skip = None
    if exclude is not None:
        try:
            skip = Path(exclude).expanduser().resolve().relative_to(root.resolve()).parts
        except ValueError:
            skip = None  # outside the folder
    found: list[ImageEntry] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if skip and relative.parts[:len(skip)] == skip:
            continue
        if not path.is_file():  # a link to a file is followed; the loader refuses what is not regular
            continue
        found.append(ImageEntry(relative.as_posix(), relative.parts[0] if len(relative.parts) > 1 else ""))
        if len(found) > MAX_SCAN_IMAGES:
            raise ScanError(f"'{root}' holds more than {MAX_SCAN_IMAGES:,} images; scan a part of it.")
    if not found:
        raise ScanError(f"'{root}' holds no image files (.jpg, .png, .bmp, .gif, .webp, .tif).")
    return found


def listing_digest(entries: list[ImageEntry]) -> str:
    """A short fingerprint of the listing: a resumed scan must see the same images in the same
    order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(entry.path.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()[:16]


def default_scan_folder(data: str | Path, model: str, weights: str) -> Path:
    """Where a scan of ``data`` by ``model`` with ``weights`` goes when no place is given: beside the
    data, one folder per model and weights (``photos.scan/resnet50-pretrained``), so scans of the
    same folder by other models never collide."""
    import re

    data = Path(data).expanduser()
    weights_tag = Path(weights).stem if weights not in ("pretrained", "random") else weights
    model_tag = Path(model.rpartition(":")[2] if model.startswith("timm:") else model).stem
    if ".py:" in model:
        model_tag = f"{Path(model.partition(':')[0]).stem}.{model.rpartition(':')[2]}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model_tag}-{weights_tag}").strip("._") or "scan"
    return data.parent / f"{data.name}.scan" / name[:100]
