"""The Predictions panel: the top-5 of the session's inspection (or of the live frame while live
input runs), the explained class marked. A click on a row emits ``class_clicked`` (the window
asks the heatmaps to explain it)."""

from __future__ import annotations

from ..session import Session
from ..views.predictions import PredictionsView


class PredictionsPanel(PredictionsView):
    """See the module docstring."""

    def __init__(self, session: Session, engine=None, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        session.model_changed.connect(self._on_model)
        session.inspection_changed.connect(lambda _result: self.refresh())
        session.live_predictions_changed.connect(lambda _top5: self.refresh())
        session.explained_class_changed.connect(self.highlight)

    def _on_model(self, model) -> None:
        self.clear()  # the previous model's classes; the new model's inspection follows
        if model is not None:
            self.set_classes(model.labels)

    def refresh(self) -> None:
        """Show the live frame's top-5 while live input runs, else the still image's."""
        model, still = self.session.model, self.session.inspection
        trained = model.trained if model is not None else True
        if self.session.live_predictions is not None:
            self.show_predictions(self.session.live_predictions, trained)
        elif still is not None:
            self.show_predictions(still.predictions, still.trained)
        else:
            self.clear()
