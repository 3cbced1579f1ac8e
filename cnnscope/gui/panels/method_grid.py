"""The "All methods" page: every fast heatmap method for the class explained, side by side.

It follows the session like the heatmap page: a new inspection or class makes the grid stale, and
a stale grid is computed again when the page is shown (never unseen: it is a dozen passes)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton,
                               QVBoxLayout, QWidget)

from ...core.render import save_png  # numpy + Pillow only
from ..requester import Requester
from ..services.method_grid import EveryMethod
from ..session import Session
from ..views.image_view import ImageView

PLACEHOLDER = "Every fast method's heatmap appears here once an image is inspected"

#: () -> (class: label or None for the top one, layer or None, colormap, opacity)
Choices = Callable[[], tuple]


class MethodGridPanel(QWidget):
    """See the module docstring. ``choices`` gives the heatmap page's class, layer and style."""

    message = Signal(str, str)  # text, level: for the window's banner

    def __init__(self, session: Session, engine, choices: Choices, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine, self._choices = session, engine, choices
        self.requests = Requester(engine, self)
        self._stale = True
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m methods")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the grid after the method running now (Esc)")
        self.export = QPushButton("Export PNG...")
        self.export.setToolTip("Save the grid as one picture")
        self.export.setEnabled(False)
        self.picture = ImageView(PLACEHOLDER, smooth=True)
        self.picture.setToolTip("Each fast method's heatmap for the same class, over the photo")
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel)
        top.addWidget(self.export)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.picture, 1)
        self._busy(False)
        self.cancel.clicked.connect(self.cancel_computation)
        self.export.clicked.connect(self.export_grid)
        session.model_changed.connect(lambda _m: self._reset())
        session.inspection_changed.connect(lambda _r: self.refresh())
        session.explained_class_changed.connect(lambda _c: self.refresh())

    @property
    def busy(self) -> bool:
        """Whether the grid is being computed."""
        return self.cancel.isVisible()

    def refresh(self) -> None:
        """The grid on screen no longer matches: compute it now if shown, else when shown."""
        self._stale = True
        if self.isVisible():
            self.compute()

    def compute(self) -> None:
        """Ask the engine for the grid with the heatmap page's class, layer and style."""
        if self.session.inspection is None:
            return
        target, layer, cmap, alpha = self._choices()
        self._stale = False
        self._busy(True)
        self.progress.setRange(0, 0)
        self.caption.setText("Computing every fast method...")
        self.requests.ask(EveryMethod(target, layer, cmap, alpha), self._show, self._failed,
                          self._progress)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._stale:
            self.compute()

    def cancel_computation(self) -> None:
        """Stop the grid at the next method."""
        self.engine.cancel(EveryMethod)
        self.requests.forget(EveryMethod)
        self._busy(False)
        self._stale = True
        self.caption.setText("<span style='color: palette(mid)'>Grid cancelled: show this page "
                             "again, or change the class, to start it again.</span>")

    def export_grid(self) -> None:
        """Save the grid as PNG."""
        if self.picture.array is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save every method's heatmap",
                                              "cnnscope-all-methods.png", "PNG (*.png)")
        if path:
            try:
                save_png(self.picture.array, path)
            except OSError as exc:
                self.message.emit(f"Could not write {path}: {exc.strerror or exc}.", "error")

    def _show(self, result) -> None:
        self._busy(False)
        self.picture.set_image(result.image)
        self.export.setEnabled(True)
        refused = "".join(f"<br><i>{label}: {why}</i>" for label, why in result.refused.items())
        self.caption.setText(f"<b>{result.methods} methods</b> for <b>{result.label}</b> "
                             f"({result.probability:.1%}) &middot; {result.elapsed_ms / 1000:.1f} s. "
                             "The slow ones (Score-CAM, occlusion...) are on the Map page."
                             f"{refused}")

    def _failed(self, message: str) -> None:
        self._busy(False)
        colour = "palette(mid)" if "cancelled" in message else "#c92a2a"
        self.caption.setText(f"<span style='color:{colour}'>{message}</span>")

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)

    def _reset(self) -> None:
        self.requests.forget(EveryMethod)
        self._busy(False)
        self._stale = True
        self.picture.clear(PLACEHOLDER)
        self.export.setEnabled(False)
        self.caption.setText("")
