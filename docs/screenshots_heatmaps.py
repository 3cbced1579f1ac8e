"""Redraw the screenshots of the "Where it looked" pages and the whole-photo view: MobileNetV2 with
real ImageNet weights (needs $CNNSCOPE_TEST_WEIGHTS naming a folder with them, or ../shared/weights).

    python docs/screenshots_heatmaps.py [WIDTHxHEIGHT] [OUT_FOLDER]

Writes window-faithfulness.png (Grad-CAM of coffee.jpg, its deletion / insertion curves and a box
around the cup), window-all-methods.png, window-sanity.png and window-whole-image.png (rocket.jpg
shown whole, the Photo tab) into docs/ (or OUT_FOLDER: to look at other window sizes).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from screenshots import WEIGHTS, offer_shared_mobilenet, play  # noqa: E402  (beside this script)

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "sample_images"
CUP_BOX = (28, 8, 200, 150)  # the cup in coffee.jpg's 224 px crop: x0, y0, x1, y1


def main() -> int:
    """Open the window on MobileNetV2, then save each page."""
    size = tuple(int(v) for v in (sys.argv[1] if len(sys.argv) > 1 else "1500x900").split("x"))
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE
    out.mkdir(parents=True, exist_ok=True)
    if not offer_shared_mobilenet():
        print(f"no real weights in {WEIGHTS}: nothing drawn")
        return 1
    app = QApplication(sys.argv[:1])
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    settings = QSettings(str(HERE / ".screenshots-heatmaps.ini"), QSettings.Format.IniFormat)
    settings.clear()
    settings.setValue("model", "mobilenet_v2")
    window = MainWindow(Engine(), str(SAMPLES / "coffee.jpg"), settings)
    window.resize(*size)
    window.show()
    view = window.heatmaps

    def shot(name: str):
        return lambda: window.grab().save(str(out / name))

    def on_map_page() -> None:
        window.tabs.setCurrentWidget(view)
        view.pages.setCurrentIndex(0)
        view.check.click()

    def sanity() -> None:
        view.pages.setCurrentWidget(window.sanity)
        window.sanity.steps.setValue(6)
        window.sanity.run()

    def whole() -> None:
        window.open_path(str(SAMPLES / "rocket.jpg"))
        window.whole_image_action.trigger()
        window.input_view.pages.setCurrentIndex(1)

    def photo_drawn() -> bool:
        inspection = window.session.inspection
        return (inspection is not None and inspection.framing.mode == "whole"
                and "rocket" in str(window.session.image) and view.picture.array is not None)

    steps = [
        (lambda: window.session.model is not None and window.session.model.name == "mobilenet_v2"
         and window.session.inspection is not None and view.picture.array is not None
         and "espresso" in view.caption.text(), on_map_page),
        (lambda: view.curves.array is not None and not view.checking,
         lambda: view.set_box(CUP_BOX, emit=True)),
        (lambda: "pointing game" in view.box_text.text(), shot("window-faithfulness.png")),
        (lambda: True, lambda: view.pages.setCurrentWidget(window.method_grid)),
        (lambda: window.method_grid.picture.array is not None and not window.method_grid.busy,
         shot("window-all-methods.png")),
        (lambda: True, sanity),
        (lambda: window.sanity.result is not None and not window.sanity.busy, shot("window-sanity.png")),
        (lambda: True, lambda: view.pages.setCurrentIndex(0)),
        (lambda: True, whole),
        (photo_drawn, shot("window-whole-image.png")),
    ]
    finished = play(app, steps, limit_ms=300_000)
    window.close()
    (HERE / ".screenshots-heatmaps.ini").unlink(missing_ok=True)
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
