"""The Input panel: the image as the network sees it (a centre crop, or the whole photo padded to a
square: View > Whole image), and the photo with that input's place framed and the rest darkened,
from the session's inspection."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from ..session import Session
from ..views.image_view import ImageView

PLACEHOLDER = "No image yet"


class InputImagePanel(QWidget):
    """See the module docstring."""

    def __init__(self, session: Session, engine=None, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.input, self.photo = ImageView(PLACEHOLDER), ImageView(PLACEHOLDER, smooth=True)
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.input, "Network input")
        self.pages.addTab(self.photo, "Photo")
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.caption)
        self._describe(None)
        session.inspection_changed.connect(self._show)
        session.field_box_changed.connect(self._outline)

    @property
    def array(self) -> np.ndarray | None:
        """The network's input shown (uint8 RGB), or None."""
        return self.input.array

    def _show(self, result) -> None:
        if result is None:
            self.input.clear(PLACEHOLDER)
            self.photo.clear(PLACEHOLDER)
        else:
            self.input.set_image(result.input_rgb)
            if result.photo_rgb is not None:
                self.photo.set_image(result.photo_rgb)
                self.photo.set_frame(result.photo_box or None)
        self._describe(result)
        self._outline(self.session.field_box)

    def _describe(self, result) -> None:
        """Tooltips and caption that say which framing is shown (never "the crop" of a whole photo)."""
        framing = getattr(result, "framing", None)
        if framing is not None and framing.mode == "whole":
            padded = tuple(framing.content[2:]) != tuple(result.input_rgb.shape[1::-1])
            input_tip = ("The image as the network sees it: the whole photo, resized"
                         + (" and padded to a square" if padded else ""))
            photo_tip = "The photo: the network sees all of it (View > Whole image)"
            caption = ("The whole photo" + (", padded to a square with the training images' mean "
                                            "colour (0 to the network: nothing there)." if padded else "."))
        else:
            input_tip = "The image as the network sees it (resized and centre-cropped)"
            photo_tip = ("The photo: the yellow frame is the crop the network sees; the darkened "
                         "rest it never sees")
            caption = ""
            if framing is not None and framing.seen_share > 0.995:
                caption = "The centre crop is all of this photo."
            elif framing is not None:
                caption = (f"The centre crop: {framing.seen_share:.0%} of the photo "
                           "(the Photo tab shows where; View > Whole image shows all of it).")
        self.pages.setTabToolTip(0, input_tip)
        self.pages.setTabToolTip(1, photo_tip)
        self.input.setToolTip(input_tip)
        self.photo.setToolTip(photo_tip)
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))

    def _outline(self, box) -> None:
        """Outline the patch a clicked map value sees (its receptive field), or nothing, on both
        pages."""
        rect = None if box is None else (box.x, box.y, box.width, box.height)
        self.input.set_highlight(rect)
        inspection = self.session.inspection
        in_photo = getattr(inspection, "in_photo", None)
        self.photo.set_highlight(None if rect is None or in_photo is None else in_photo(rect))
