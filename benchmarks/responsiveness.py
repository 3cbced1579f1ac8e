"""Does the window stay responsive while the engine works? Event-loop stalls during inspections.

A 5 ms Qt timer ticks on the GUI thread while the engine thread loads a model and inspects a photo
again and again (each drop a new request); the gaps between ticks beyond the 5 ms period are the
time the window could not react. Target: the longest stall <= one frame (16.7 ms at 60 Hz).

    python benchmarks/responsiveness.py [--model resnet50] [--drops 12]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
FRAME_MS = 1000 / 60


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--drops", type=int, default=12)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    tmp = tempfile.mkdtemp()
    window = MainWindow(Engine(), None, QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat))
    window.show()
    photos = [str(SAMPLES / n) for n in ("chelsea.png", "coffee.jpg", "astronaut.jpg", "rocket.jpg")]
    ticks: list[float] = []
    state = {"phase": "start", "drops": 0, "painted": 0}
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def on_grid(*_):
        state["painted"] += 1

    window.session.grid_changed.connect(on_grid)

    def step() -> None:
        if state["phase"] == "start" and window.features.grid.array is not None:
            window.model_bar.model_box.setCurrentIndex(window.model_bar.model_box.findData(args.model))
            window.model_bar.load(weights="random")
            state["phase"] = "loading"
            timer.start()
        elif (state["phase"] == "loading" and args.model in window.status.text()
              and "Inspection" in window.status.text()):
            state["phase"] = "dropping"
        elif state["phase"] == "dropping":
            if state["drops"] < args.drops:
                window.open_path(photos[state["drops"] % len(photos)])
                state["drops"] += 1
                QTimer.singleShot(400, step)
                return
            state["phase"] = "done"
            QTimer.singleShot(3000, app.quit)
            return
        QTimer.singleShot(50, step)

    QTimer.singleShot(50, step)
    QTimer.singleShot(180_000, app.quit)
    app.exec()
    timer.stop()
    window.close()
    gaps = [(b - a) * 1000 - 5 for a, b in zip(ticks, ticks[1:])]
    worst = max(gaps)
    print(f"{args.model} (untrained) on {window.status.text().split('|')[0].strip()}: "
          f"{state['drops']} drops, {len(ticks)} timer ticks, offscreen Qt")
    print("| measure | ms | target ms | ratio to target |")
    print("|---|---|---|---|")
    print(f"| longest event-loop stall | {worst:.1f} | {FRAME_MS:.1f} | {worst / FRAME_MS:.2f} |")
    print(f"| 99th percentile stall | {statistics.quantiles(gaps, n=100)[98]:.1f} | - | - |")
    print(f"| median stall | {statistics.median(gaps):.1f} | - | - |")


if __name__ == "__main__":
    main()
