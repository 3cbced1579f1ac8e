"""Printed digits drawn with PIL: LeNet-5's world (``cnnscope make-lenet``).

Each picture is one digit, 0 to 9, in one of several fonts, randomly scaled, stretched, slanted,
rotated (up to 15 degrees either way), shifted, thickened or thinned, in a random pair of light and
dark tones, over a faint gradient, with pixel noise and sometimes a little blur. Everything is
seeded: the same seed draws the same pictures on the same machine (the fonts found decide the
rest, see :func:`find_fonts`).

Light digits on a dark ground, as MNIST draws them: the ink is what carries the information, so
it is the ink that has high values. A convolution's response then comes from the strokes and the
ground stays near the bottom of the input range, so feature maps light up where the digit is and
Grad-CAM reads cleanly, which is what a learner wants to see in LeNet. A dark-on-light photo of a
digit (ink on paper) should be inverted first; the network never saw one.

The pictures are uint8 RGB (H, W, 3), slightly tinted, so they take the same road as photos: the
model's preprocessing turns them into the grey (luma) input LeNet reads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
DIGIT_SIZE = 32  # LeNet-5's input side
MAX_ROTATION = 15.0  # degrees, either way
GLYPH_PX = 96  # the size glyphs are rasterised at before being transformed and reduced
SAMPLE_SIZE = 128  # sample pictures are drawn larger than the network's 32 px input

#: Font files known to draw plain digits, searched for by name in matplotlib's own font folder
#: (matplotlib is a dependency, so DejaVu, STIX and Computer Modern are always there) and in the
#: system's font folders. The ones found, in this order, then Pillow's built-in font, are the
#: fonts the generator picks from. Left out on purpose: fonts with old-style figures (cmmi10),
#: symbol and display subsets (STIXSiz*, *Display), and the "last resort" font.
FONT_FILES: tuple[str, ...] = (
    # shipped with matplotlib
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf",
    # common on Linux desktops (URW base 35, Liberation, FreeFont, Noto), macOS and Windows
    "NimbusSans-Regular.otf", "NimbusSans-Bold.otf", "NimbusRoman-Regular.otf",
    "NimbusMonoPS-Regular.otf", "URWGothic-Book.otf", "C059-Roman.otf", "P052-Roman.otf",
    "URWBookman-Light.otf", "NotoSansMono-Regular.ttf", "NotoSans-Regular.ttf",
    "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf",
    "FreeSans.ttf", "FreeSerif.ttf", "FreeMono.ttf", "Ubuntu-R.ttf",
    "Arial.ttf", "arial.ttf", "Times New Roman.ttf", "times.ttf", "Courier New.ttf", "cour.ttf",
    "Verdana.ttf", "verdana.ttf", "Georgia.ttf", "georgia.ttf",
)
PILLOW_DEFAULT = "Pillow default"  # Pillow's built-in font (Aileron with FreeType, else a bitmap)


def _font_folders() -> list[Path]:
    folders = []
    try:
        import matplotlib

        folders.append(Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf")
    except ImportError:  # pragma: no cover - a dependency of cnnscope
        pass
    home = Path.home()
    folders += [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".fonts",
                home / ".local/share/fonts", Path("/Library/Fonts"), Path("/System/Library/Fonts"),
                home / "Library/Fonts"]
    if sys.platform == "win32":
        folders.append(Path(os.environ.get("WINDIR", r"C:\Windows")) / "Fonts")
    return [f for f in folders if f.is_dir()]


def _fc_list() -> dict[str, Path]:
    """File name -> path for every font fontconfig knows, {} without fc-list."""
    try:
        out = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found: dict[str, Path] = {}
    for line in sorted(out.splitlines()):
        path = Path(line.strip())
        found.setdefault(path.name, path)
    return found


@lru_cache(maxsize=1)
def find_fonts() -> tuple[str, ...]:
    """The fonts the generator draws with: paths of the :data:`FONT_FILES` found (matplotlib's
    folder first, then the system's folders, then fontconfig), in that list's order, each usable by
    Pillow, then :data:`PILLOW_DEFAULT`. Never empty: without any font file there is still Pillow's
    built-in one."""
    wanted = set(FONT_FILES)
    found: dict[str, Path] = {}
    for folder in _font_folders():
        for path in sorted(folder.rglob("*")):
            if path.name in wanted and path.name not in found and path.is_file():
                found[path.name] = path
    if len(found) < len(wanted):
        for name, path in _fc_list().items():
            if name in wanted and name not in found and path.is_file():
                found[name] = path
    usable = [str(found[name]) for name in FONT_FILES if name in found and _draws_digits(str(found[name]))]
    return (*usable, PILLOW_DEFAULT)


def _draws_digits(path: str) -> bool:
    """Whether Pillow opens the file and every digit comes out as a distinct, non-empty glyph."""
    try:
        glyphs = [_glyph(path, d, 0) for d in range(10)]
    except (OSError, ValueError):
        return False
    return all(g.getbbox() for g in glyphs) and len({g.tobytes() for g in glyphs}) == 10


@lru_cache(maxsize=64)
def _font(path: str) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if path == PILLOW_DEFAULT:
        try:
            return ImageFont.load_default(size=GLYPH_PX)
        except TypeError:  # Pillow 10.0 has only the small bitmap font (glyphs are scaled anyway)
            return ImageFont.load_default()
    return ImageFont.truetype(path, GLYPH_PX)


@lru_cache(maxsize=4096)
def _glyph(path: str, digit: int, stroke: int) -> Image.Image:
    """Digit ``digit`` in white on black ("L"), cropped to its ink, thickened by ``stroke`` px."""
    font = _font(path)
    side = 3 * GLYPH_PX
    canvas = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(canvas)
    try:
        draw.text((GLYPH_PX // 2, GLYPH_PX // 2), str(digit), fill=255, font=font,
                  stroke_width=stroke, stroke_fill=255)
    except TypeError:  # a bitmap font takes no stroke
        draw.text((GLYPH_PX // 2, GLYPH_PX // 2), str(digit), fill=255, font=font)
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"{path} draws nothing for {digit}")
    return canvas.crop(box)


def font_label(path: str) -> str:
    """A font's file name (or Pillow's default), for records."""
    return path if path == PILLOW_DEFAULT else Path(path).name


@dataclass(frozen=True)
class DigitSample:
    """One drawn picture, its digit (also its class index) and the font it was drawn in."""

    image: np.ndarray  # (H, W, 3) uint8
    label: int
    font: str  # font_label of the font


def _supersample(size: int) -> int:
    return max(2, min(4, 128 // max(1, size)))


def _coverage(rng: np.random.Generator, glyph: Image.Image, size: int) -> np.ndarray:
    """Anti-aliased ink coverage (float 0..1, (size, size)) of the glyph placed at random."""
    ss = _supersample(size)
    big = size * ss
    gw, gh = glyph.size
    height = rng.uniform(0.5, 0.8) * big  # MNIST's digits fill a 20 px box of 28
    ky = height / gh
    kx = ky * rng.uniform(0.8, 1.2)
    shear = rng.uniform(-0.2, 0.2)
    angle = np.radians(rng.uniform(-MAX_ROTATION, MAX_ROTATION))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    forward = rot @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([kx, ky])  # glyph -> canvas
    corners = (np.array([[0, 0], [gw, 0], [0, gh], [gw, gh]], float) - (gw / 2, gh / 2)) @ forward.T
    half = corners.max(axis=0)  # the box is symmetric about the glyph's centre
    room = np.maximum(big / 2 - half - 0.04 * big, 0.0)  # keep the digit inside the frame
    shift = rng.uniform(-1, 1, 2) * np.minimum(room, 0.15 * big)
    centre = np.array([big / 2, big / 2]) + shift
    inverse = np.linalg.inv(forward)  # canvas -> glyph, as Image.transform wants it
    offset = np.array([gw / 2, gh / 2]) - inverse @ centre
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    canvas = glyph.transform((big, big), Image.AFFINE, data, resample=Image.BILINEAR, fillcolor=0)
    small = canvas.reduce(ss)
    if rng.uniform() < 0.25:  # a little out of focus
        small = small.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8) * size / DIGIT_SIZE))
    return np.asarray(small, dtype=np.float32) / 255.0


def _tones(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A dark ground and a light ink, as RGB 0..1, faintly tinted, at least 0.4 apart in grey."""
    ground = rng.uniform(0.0, 0.35)
    ink = rng.uniform(min(1.0, ground + 0.4), 1.0)
    tint = rng.normal(0, 0.03, (2, 3))
    return np.clip(ground + tint[0], 0, 1), np.clip(ink + tint[1], 0, 1)


def draw_digit(rng: np.random.Generator, digit: int, size: int = DIGIT_SIZE,
               fonts: tuple[str, ...] | None = None) -> tuple[np.ndarray, str]:
    """Draw ``digit`` (0-9); return (uint8 RGB (size, size, 3) picture, its font's label)."""
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"A digit is 0 to 9, not {digit}.")
    fonts = fonts or find_fonts()
    path = fonts[int(rng.integers(len(fonts)))]
    stroke = int(rng.choice([0, 0, 1, 2, 3, 4]))
    glyph = _glyph(path, int(digit), stroke)
    if rng.uniform() < 0.15:  # thinner strokes
        glyph = glyph.filter(ImageFilter.MinFilter(3))
    alpha = _coverage(rng, glyph, size)[..., None]
    ground, ink = _tones(rng)
    yy, xx = np.mgrid[0:size, 0:size] / size
    a = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(-0.12, 0.12) * (np.cos(a) * (xx - 0.5) + np.sin(a) * (yy - 0.5))
    img = (ground + slope[..., None]) * (1 - alpha) + ink * alpha
    img = img + rng.normal(0, rng.uniform(0.0, 0.08), img.shape)
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8), font_label(path)


CHUNK = 500  # samples per independently seeded chunk: results do not depend on the worker count


def _chunk(seed: int, index: int, n: int, size: int, fonts: tuple[str, ...]) -> list[DigitSample]:
    rng = np.random.default_rng([seed, index])
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    samples = []
    for k in labels:
        image, font = draw_digit(rng, int(k), size, fonts)
        samples.append(DigitSample(image, int(k), font))
    return samples


def make_digits(n: int, seed: int, size: int = DIGIT_SIZE, workers: int = 1,
                fonts: tuple[str, ...] | None = None) -> list[DigitSample]:
    """``n`` seeded pictures, the ten digits balanced; ``workers`` > 1 draws chunks in parallel."""
    fonts = tuple(fonts or find_fonts())
    sizes = [min(CHUNK, n - start) for start in range(0, n, CHUNK)]
    args = [(seed, i, k, size, fonts) for i, k in enumerate(sizes)]
    if workers > 1 and len(args) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
        with ProcessPoolExecutor(min(workers, len(args)), mp_context=ctx) as pool:
            chunks = list(pool.map(_chunk, *zip(*args)))
    else:
        chunks = [_chunk(*a) for a in args]
    return [sample for chunk in chunks for sample in chunk]


def as_arrays(samples: list[DigitSample]) -> tuple[np.ndarray, np.ndarray]:
    """Stack samples into (N, H, W, 3) uint8 pictures and (N,) int64 labels."""
    return np.stack([s.image for s in samples]), np.array([s.label for s in samples], np.int64)


SAMPLE_STREAM = 8  # of the first streams, the one that draws a crisp, nearly upright 7


def sample_digit(digit: int, seed: int = 0, size: int = SAMPLE_SIZE) -> np.ndarray:
    """The sample picture of ``digit`` (``sample_images/digit_<d>.png``): drawn like any other
    picture, from a fixed seed, in the first font found (DejaVu Sans, shipped with matplotlib)."""
    fonts = find_fonts()
    return draw_digit(np.random.default_rng([seed, SAMPLE_STREAM, digit]), digit, size, fonts[:1])[0]


def write_digit_folder(folder: str | Path, digits: tuple[int, ...] = tuple(range(10)),
                       per_class: int = 60, seed: int = 0, size: int = DIGIT_SIZE) -> list[Path]:
    """An image-folder dataset of drawn digits, ``folder/<d>/<d>_NNN.png``, for trying transfer
    learning offline (LeNet on a subset of digits, or another model on digits); returns the files."""
    digits = tuple(int(d) for d in digits)
    if not digits or any(not 0 <= d <= 9 for d in digits):
        raise ValueError(f"Digits are 0 to 9; got {', '.join(map(str, digits)) or 'none'}.")
    folder = Path(folder)
    written = []
    counts = {d: 0 for d in digits}
    rng = np.random.default_rng([seed, 11])
    labels = np.repeat(np.array(digits), per_class)
    rng.shuffle(labels)
    fonts = find_fonts()
    for d in labels:
        image, _font = draw_digit(rng, int(d), size, fonts)
        target = folder / str(d)
        target.mkdir(parents=True, exist_ok=True)
        path = target / f"{d}_{counts[int(d)]:03d}.png"
        counts[int(d)] += 1
        Image.fromarray(image).save(path)
        written.append(path)
    return written
