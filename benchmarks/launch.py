"""How fast does the window come up? Launch -> window shown, and -> first inspection painted.

Each run is a fresh Python process (offscreen Qt), timed from just before the interpreter starts:
that is what a user waits for after typing ``cnnscope``. Target: window shown <= 1.5 s.

    python benchmarks/launch.py [--runs N]
"""

from __future__ import annotations

import _no_shadow  # noqa: F401  (first: see its docstring)
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import json, os, sys, time
t0 = float(sys.argv[1])
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from cnnscope.gui.engine import Engine
from cnnscope.gui.main_window import MainWindow
marks = {}
window = MainWindow(Engine(), None, QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.show()
app.processEvents()
marks["shown"] = time.time() - t0
def painted(*_):
    if "painted" not in marks and window.features.grid.array is not None:
        marks["painted"] = time.time() - t0
        QTimer.singleShot(0, app.quit)
window.session.grid_changed.connect(lambda *_: QTimer.singleShot(0, painted))
QTimer.singleShot(120_000, app.quit)
app.exec()
window.close()
print(json.dumps(marks))
"""


def run_once() -> dict:
    """One launch; returns seconds to 'shown' and 'painted'."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, str(start), os.path.join(tmp, "s.ini")],
                             capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    run_once()  # warm the OS file cache, as any second launch would be
    runs = [run_once() for _ in range(args.runs)]
    shown = statistics.median(r["shown"] for r in runs) * 1000
    painted = statistics.median(r["painted"] for r in runs) * 1000
    print(f"median of {args.runs} launches (demo model, first sample image, offscreen Qt)")
    print("| measure | ms | target ms | ratio to target |")
    print("|---|---|---|---|")
    print(f"| launch -> window shown | {shown:.0f} | 1500 | {shown / 1500:.2f} |")
    print(f"| launch -> first inspection painted | {painted:.0f} | - | - |")


if __name__ == "__main__":
    main()
