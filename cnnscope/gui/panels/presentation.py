"""Presentation mode: full screen, large type, driven from the keyboard. It mirrors the session:
the photo, the feature grid or the heatmap on screen, and the predictions.

Keys it cannot act on alone go out as signals the window wires: stepping layers (the layers
panel), opening sample 1-9 (the strip), asking for a heatmap when none is on screen, and, in
arithmetic mode, sliding the kernel and playing (the Arithmetic tab's own controls)."""

from __future__ import annotations

from PySide6.QtCore import Signal

from ..session import Session
from ..views.arithmetic_text import load_pictures, position_html
from ..views.presentation import SCALE, PresentationView

PICTURE_SCALE = SCALE * 0.7  # the patch and kernel pictures: large, but the numbers come first


class PresentationPanel(PresentationView):
    """See the module docstring."""

    heatmap_wanted = Signal()
    arithmetic_wanted = Signal()  # arithmetic mode with no value explained yet: choose one
    arithmetic_left = Signal()  # arithmetic mode ended (A, or leaving): a playing slide stops

    def __init__(self, session: Session, engine=None, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        for changed in (session.inspection_changed, session.grid_changed, session.heatmap_changed,
                        session.model_changed, session.live_predictions_changed,
                        session.arithmetic_changed, session.field_box_changed):
            changed.connect(lambda _value: self.refresh())
        session.inspection_changed.connect(lambda _result: self._heatmap_if_missing())
        session.inspection_changed.connect(lambda _result: self._arithmetic_if_missing())
        self.toggle_cam.connect(self._toggle_cam)
        self.toggle_arithmetic.connect(self._toggle_arithmetic)
        self._numbers_of = None  # the PositionExplained the numbers show
        self.leave.connect(self._leave)

    def enter(self) -> None:
        """Full screen, with the keys."""
        self.showFullScreen()
        self.activateWindow()
        self.setFocus()
        self.refresh()

    def _toggle_cam(self) -> None:
        self.showing_cam = not self.showing_cam
        self.showing_arithmetic = False
        self._heatmap_if_missing()
        self.refresh()

    def _toggle_arithmetic(self) -> None:
        self.showing_arithmetic = not self.showing_arithmetic
        if not self.showing_arithmetic:
            self.arithmetic_left.emit()
        self._arithmetic_if_missing()
        self.refresh()

    def _arithmetic_if_missing(self) -> None:
        """Showing the arithmetic and no value is explained (none clicked yet, or another model
        cleared it): ask for one."""
        if self.isVisible() and self.showing_arithmetic and self.session.arithmetic is None \
                and self.session.inspection is not None:
            self.arithmetic_wanted.emit()

    def _leave(self) -> None:
        if self.showing_arithmetic:
            self.arithmetic_left.emit()
        self.hide()

    def _heatmap_if_missing(self) -> None:
        """Showing heatmaps on screen, and none for this image (a slow method waits for its tab
        otherwise): ask for one."""
        s = self.session
        if self.isVisible() and self.showing_cam and s.heatmap is None and s.inspection is not None:
            self.heatmap_wanted.emit()

    def title_text(self) -> str:
        """The model and what the middle picture shows; never a timing."""
        s = self.session
        model = s.model.name if s.model is not None else ""
        if self.showing_arithmetic:
            p = s.arithmetic.position if s.arithmetic is not None else None
            what = (f"<b>{p.layer}</b>: the value at channel {p.channel}, row {p.y}, column {p.x}"
                    if p is not None else "the arithmetic of a value (choosing one...)")
        elif self.showing_cam and s.heatmap is not None:
            h = s.heatmap
            what = f"{h.method_label} for <b>{h.label}</b> ({h.probability:.0%})"
        elif not self.showing_cam and s.grid is not None:
            c, height, width = s.grid.shape
            what = f"<b>{s.grid.layer}</b>: {c} channels of {height} x {width}"
        else:
            what = ""
        return f"{model}: {what}" if what and model else model or what

    def refresh(self) -> None:
        """Repaint from the session (only while on screen)."""
        if not self.isVisible():
            return
        s = self.session
        middle = s.heatmap.overlay if self.showing_cam and s.heatmap is not None else (
            s.grid.image if not self.showing_cam and s.grid is not None else None)
        predictions = s.live_predictions if s.live_predictions is not None else (
            s.inspection.predictions if s.inspection is not None else [])
        self.show_state(s.inspection.input_rgb if s.inspection is not None else None, middle,
                        self.title_text(), predictions)
        box = s.field_box if self.showing_arithmetic else None
        self.image.set_highlight(None if box is None else (box.x, box.y, box.width, box.height))
        if self.showing_arithmetic and s.arithmetic is not None:
            if s.arithmetic is not self._numbers_of:  # a new value: keep the reader's place
                bar = self.numbers.verticalScrollBar()
                kept = bar.value() if self._numbers_of is not None and \
                    self._numbers_of.position.layer == s.arithmetic.position.layer else 0
                load_pictures(self.numbers.document(), s.arithmetic, PICTURE_SCALE)
                self.numbers.setHtml(position_html(s.arithmetic, PICTURE_SCALE))
                bar.setValue(kept)
                self._numbers_of = s.arithmetic
        elif self.showing_arithmetic:
            self.numbers.setHtml("")
            self._numbers_of = None
