"""The Compare panel: the session's image through 2 to 4 models side by side, layers matched.

Each column has its own weights (pretrained, untrained, or the weights file the viewer uses). A
comparison runs when asked, and again when the panel is shown after the session's image changed;
columns are painted as they come."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..requester import Requester
from ..services.compare import Compare, CompareColumn, CompareDone, ExportCompare
from ..session import Session
from ..views.compare import CompareView


class ComparePanel(CompareView):
    """See the module docstring."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.engine = session, engine
        self.requests = Requester(engine, self)
        self._compared = None  # (image source, framing) of the comparison shown
        engine.ready.connect(lambda c: self.set_models([m.name for m in c.models], c.comparison))
        session.model_changed.connect(self._on_model)
        session.image_changed.connect(lambda _image: self.run_if_stale())
        session.inspection_changed.connect(lambda _result: self.run_if_stale())  # View > Whole image
        self.run_requested.connect(self.run)
        self.export_requested.connect(self.export_png)
        self.cancel_requested.connect(self.cancel_comparison)

    def _on_model(self, model) -> None:
        if model is not None and model.weights not in ("pretrained", "random"):
            self.offer_weights_file(model.weights)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.run_if_stale()

    def run_if_stale(self) -> None:
        """Compare again when shown and the image is not the one compared."""
        if self.isVisible() and self.session.image is not None \
                and (self.session.image, self._framing()) != self._compared:
            self.run()

    def _framing(self) -> str:
        """The main view's framing ("crop" or "whole", View > Whole image): the columns follow it."""
        framing = getattr(self.session.inspection, "framing", None)
        return framing.mode if framing is not None else "crop"

    def run(self) -> None:
        """Run the comparison the controls describe on the session's image."""
        source, wanted = self.session.image, self.request()
        if source is None:
            self.status.setText("Open or drop an image first.")
            return
        if not 2 <= len(wanted["models"]) <= 4:
            self.status.setText("Choose 2 to 4 models.")
            return
        self._compared = (source, self._framing())
        self.start(wanted["models"])
        device = self.session.model.device_choice if self.session.model is not None else "auto"
        request = Compare(tuple(tuple(m) for m in wanted["models"]), source, wanted["depth"],
                          wanted["stride"], wanted["method"], wanted["target"], device,
                          self._framing())
        self.requests.ask(request, self._on_result, self._on_failed, self.show_progress)

    def _on_result(self, result) -> None:
        if isinstance(result, CompareColumn):
            self.show_column(result)
        elif isinstance(result, CompareDone):
            self.done(result.notes)

    def _on_failed(self, message: str) -> None:
        self.done([])
        self.status.setText(f"<span style='color:#c92a2a'>{message}</span>")

    def cancel_comparison(self) -> None:
        """Stop between columns (and a download a column waits on)."""
        self.engine.cancel(Compare)
        self.requests.forget(Compare)
        self.done(["cancelled"])

    def export_png(self) -> None:
        """Save the whole comparison as one PNG."""
        path, _ = QFileDialog.getSaveFileName(self, "Save comparison", "cnnscope-compare.png",
                                              "PNG (*.png)")
        if path:
            name = Path((self._compared[0].path if self._compared else None) or "image").name
            self.requests.ask(ExportCompare(path, f"{name}: {self._matching_text()}"),
                              lambda done: self.status.setText(f"saved {done.path}"),
                              self._on_failed)

    def _matching_text(self) -> str:
        wanted = self.request()
        return (f"layers matched at relative depth {wanted['depth']:.2f}" if wanted["depth"] is not None
                else f"layers matched at 1/{wanted['stride']} of the input")
