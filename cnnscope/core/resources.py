"""Where the files cnnscope ships (bundled models, sample images) are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def _find(name: str) -> Path:
    # A wheel carries them inside the package (see pyproject's force-include); a checkout or an
    # editable install has them at the repository root.
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    return _PACKAGE.parent / name


def assets_dir() -> Path:
    """The folder holding the bundled models (the demo, LeNet-5) and icons."""
    return _find("assets")


def sample_images_dir() -> Path:
    """The folder of sample photos and demo-shape images."""
    return _find("sample_images")


def sample_images() -> list[Path]:
    """Sample image files, photos first, then the demo shapes, then LeNet's digits, each group
    sorted by name."""
    folder = sample_images_dir()
    files = [p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    return sorted(files, key=lambda p: (p.name.startswith("shape_") + 2 * p.name.startswith("digit_"),
                                        p.name))
