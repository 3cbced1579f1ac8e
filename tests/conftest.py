"""Shared fixtures: sample images, the real-weights folder (skipped when absent), small models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Every test runs without a screen, as on CI: set here, not only for tests/gui, because CLI tests
# open the window too (its screen check would stop them on a machine without a display).
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_images"


def shared_weights_dir() -> Path | None:
    """``$CNNSCOPE_TEST_WEIGHTS`` or ``../shared/weights`` beside the checkout, if present."""
    env = os.environ.get("CNNSCOPE_TEST_WEIGHTS")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "weights")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture
def real_weights() -> Path:
    """The folder with real ImageNet weights; skips the test when it is absent."""
    folder = shared_weights_dir()
    if folder is None:
        pytest.skip("real ImageNet weights not available (../shared/weights or $CNNSCOPE_TEST_WEIGHTS)")
    return folder


def _weights_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the shared weights folder")
    return path


@pytest.fixture
def mobilenet_file(real_weights: Path) -> Path:
    """torchvision's own MobileNetV2 ImageNet weights."""
    return _weights_file(real_weights, "mobilenet_v2-b0353104.pth")


@pytest.fixture(scope="session")
def mobilenet_real():
    """MobileNetV2 with torchvision's ImageNet weights, loaded once (skips without them); tests
    must not change it."""
    from cnnscope.core.weights import load_model

    folder = shared_weights_dir()
    if folder is None or not (folder / "mobilenet_v2-b0353104.pth").is_file():
        pytest.skip("real MobileNetV2 weights not available (../shared/weights or $CNNSCOPE_TEST_WEIGHTS)")
    return load_model("mobilenet_v2", str(folder / "mobilenet_v2-b0353104.pth"))


@pytest.fixture
def squeezenet_file(real_weights: Path) -> Path:
    """The Caffe SqueezeNet 1.1 ImageNet weights, converted to torchvision's layout."""
    return _weights_file(real_weights, "squeezenet1_1-caffe-converted.pth")


def wide_photo_array() -> "np.ndarray":
    """400 x 200, white, a red block near the left edge (x 10..60, y 70..130): the centre crop
    loses the block, the whole photo keeps it."""
    import numpy as np

    photo = np.full((200, 400, 3), 255, np.uint8)
    photo[70:130, 10:60] = (255, 0, 0)
    return photo


@pytest.fixture(scope="session")
def wide_photo() -> "np.ndarray":
    """The wide photo (wide_photo_array) as an array (shared: do not draw on it)."""
    return wide_photo_array()


@pytest.fixture
def wide_photo_file(tmp_path) -> str:
    """The wide photo (wide_photo_array) saved as a PNG; its path."""
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.fromarray(wide_photo_array()).save(path)
    return str(path)


@pytest.fixture(scope="session")
def demo_model():
    from cnnscope.core.weights import load_model

    return load_model("demo_shapes", "pretrained")


@pytest.fixture(scope="session")
def inception_random():
    """Inception v3 with random weights, built once (its initialisation takes seconds); tests
    must not change it."""
    from cnnscope.core.weights import load_model

    return load_model("inception_v3", "random")


@pytest.fixture
def isolated_torch_home(tmp_path, monkeypatch) -> Path:
    """An empty torch cache, so tests never see (or fill) the user's real one."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture
def no_network(monkeypatch):
    """Make every download fail at once, as on an offline machine."""
    import urllib.error
    import urllib.request

    calls = []

    def refuse(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls
