"""Redraw the Dataset tab's screenshots: MobileNetV2 with real ImageNet weights (needs
$CNNSCOPE_TEST_WEIGHTS naming a folder with them) scanning a folder of photos made from the
sample photos (crops at several scales, one class folder per photo) and drawn shapes.

    python docs/screenshots_dataset.py [EARLY_CHANNEL LATE_CHANNEL]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import WEIGHTS, offer_shared_mobilenet, play  # noqa: E402  (beside this script)

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "sample_images"
EARLY, LATE = "features.3", "features.14"


def photo_folder(root: Path, crops: int = 22, seed: int = 0) -> Path:
    """Crops of each sample photo at several scales and places (one class folder per photo), and
    drawn shapes: a small dataset with real photos, made from files the project ships."""
    from cnnscope.core.shapes import write_shape_folder

    rng = np.random.default_rng(seed)
    for name in ("astronaut.jpg", "chelsea.png", "coffee.jpg", "rocket.jpg"):
        with Image.open(SAMPLES / name) as photo:
            photo = photo.convert("RGB")
            folder = root / Path(name).stem
            folder.mkdir(parents=True)
            for k in range(crops):
                side = int(min(photo.size) * rng.uniform(0.3, 0.9))
                left = int(rng.integers(0, photo.width - side + 1))
                top = int(rng.integers(0, photo.height - side + 1))
                piece = photo.crop((left, top, left + side, top + side)).resize((256, 256))
                if rng.random() < 0.5:
                    piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                piece.save(folder / f"{Path(name).stem}_{k:02d}.jpg", quality=90)
    write_shape_folder(root / "shapes", per_class=7, seed=seed, size=192)
    return root


def main() -> int:
    """Scan the folder in the real window, then save the Dataset tab and the Feature maps tab."""
    early_channel = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    late_channel = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if not offer_shared_mobilenet():
        print(f"no real weights in {WEIGHTS}: nothing drawn")
        return 1
    data = photo_folder(Path(tempfile.mkdtemp()) / "photos")
    app = QApplication(sys.argv[:1])
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    settings = QSettings(str(HERE / ".screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()
    settings.setValue("model", "mobilenet_v2")
    window = MainWindow(Engine(), str(SAMPLES / "chelsea.png"), settings)
    window.resize(1500, 900)
    window.show()
    panel = window.dataset

    def scan() -> None:
        window.tabs.setCurrentWidget(panel)
        panel.folder.setText(str(data))
        panel.layers.setText(f"{EARLY},{LATE}")
        panel.method.setCurrentIndex(panel.method.findData("tsne"))
        panel.scan.click()

    def hover_a_cat() -> None:
        index = next(i for i, p in enumerate(panel.map.paths) if "/chelsea/" in p)
        x, y = panel.map._pixels()[index]
        from PySide6.QtCore import QPointF, Qt
        from PySide6.QtGui import QMouseEvent

        event = QMouseEvent(QMouseEvent.Type.MouseMove, QPointF(x, y), QPointF(x, y),
                            Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        panel.map.mouseMoveEvent(event)

    def features_tab() -> None:
        window.tabs.setCurrentWidget(window.features)
        window.layers.select(EARLY)

    steps = [
        (lambda: window.session.model is not None and window.session.model.name == "mobilenet_v2"
         and window.session.inspection is not None, scan),
        (lambda: panel.map.shown_count > 0, lambda: panel.choose_unit(EARLY, early_channel)),
        (lambda: panel.tops_caption.text().startswith(f"<b>{EARLY}</b> channel {early_channel}"), hover_a_cat),
        (lambda: panel.map.thumbnail is not None, lambda: window.grab().save(str(HERE / "window-dataset.png"))),
        (lambda: True, lambda: panel.choose_unit(LATE, late_channel)),
        (lambda: panel.tops_caption.text().startswith(f"<b>{LATE}</b> channel {late_channel}"),
         lambda: window.grab().save(str(HERE / "window-dataset-late.png"))),
        (lambda: True, features_tab),
        (lambda: window.features._geometry is not None and window.features._geometry.layer == EARLY,
         lambda: window.features.channel_clicked.emit(early_channel)),
        (lambda: window.features.dataset_tops.isVisible() and window.features.detail.array is not None,
         lambda: window.grab().save(str(HERE / "window-features-dataset.png"))),
    ]

    finished = play(app, steps, limit_ms=240_000)
    window.close()
    (HERE / ".screenshots.ini").unlink(missing_ok=True)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
