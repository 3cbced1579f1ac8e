"""The Input panel: the image as the network sees it (resized and cropped), from the session's
inspection."""

from __future__ import annotations

from ..session import Session
from ..views.image_view import ImageView


class InputImagePanel(ImageView):
    """See the module docstring."""

    def __init__(self, session: Session, engine=None, parent=None) -> None:
        super().__init__("No image yet", parent)
        self.setToolTip("The image as the network sees it (resized and cropped)")
        session.inspection_changed.connect(
            lambda result: self.set_image(result.input_rgb) if result is not None else self.clear())
        session.field_box_changed.connect(self._outline)

    def _outline(self, box) -> None:
        """Outline the patch a clicked map value sees (its receptive field), or nothing."""
        self.set_highlight(None if box is None else (box.x, box.y, box.width, box.height))
