"""Camera and video frames through the model shown; the still image's inspection is untouched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Job, Request, Service


@dataclass(frozen=True, eq=False)  # a frame is compared by identity, never element by element
class LiveFrameRequest(Request):
    """One frame (uint8 RGB): ``layer``'s maps (mode "maps") or Grad-CAM (mode "cam")."""

    frame: np.ndarray
    mode: str = "maps"
    layer: str | None = None


class LiveService(Service):
    """Inspects live frames with the model shown; answers with a core.live.LiveFrame."""

    handles = (LiveFrameRequest,)

    def run(self, request: Request, job: Job) -> Any:
        """Process one frame."""
        from cnnscope.core.live import process_frame

        return process_frame(self.state.model(), request.frame, request.mode, request.layer,
                             self.state.device)
