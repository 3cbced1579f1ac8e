"""Top-5 predictions as labelled probability bars."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget


class PredictionsView(QWidget):
    """Rows of (label, bar); a clear warning when the weights are untrained. Clicking a row
    emits ``class_clicked(label)``: the window then shows where the network found that class."""

    class_clicked = Signal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        self._title = QLabel("<b>Predictions</b>")
        self._vocabulary = QLabel("")
        self._vocabulary.setWordWrap(True)
        self._vocabulary.setStyleSheet("color: palette(mid)")
        self._warning = QLabel("Untrained weights: these predictions mean nothing.")
        self._warning.setStyleSheet("color: #d9480f; font-weight: bold")
        self._warning.setWordWrap(True)
        self._warning.hide()
        layout.addWidget(self._title)
        layout.addWidget(self._vocabulary)
        layout.addWidget(self._warning)
        self._rows: list[tuple[QLabel, QProgressBar]] = []
        for _ in range(5):
            label, bar = QLabel(""), QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(True)
            for widget in (label, bar):
                widget.setCursor(Qt.CursorShape.PointingHandCursor)
                widget.setToolTip("Click to see where the network found this class")
                widget.installEventFilter(self)
            layout.addWidget(label)
            layout.addWidget(bar)
            self._rows.append((label, bar))
        layout.addStretch(1)
        self._shown: list[tuple[str, float]] = []
        self._highlighted: str | None = None

    def set_classes(self, labels: list[str]) -> None:
        """Say what the model can answer: a photo of a cat is still 'star' to a shapes model."""
        if len(labels) <= 20:
            text = f"This model knows only {len(labels)} classes: {', '.join(labels)}."
        else:
            text = f"{len(labels)} classes (hover for some)."
        self._vocabulary.setText(text)
        self._vocabulary.setToolTip(", ".join(labels[:60]) + (" ..." if len(labels) > 60 else ""))

    def show_predictions(self, predictions: list[tuple[str, float]], trained: bool) -> None:
        """Fill the rows with (label, probability) pairs."""
        self._shown = list(predictions)
        self._warning.setVisible(not trained)
        for i, (label, bar) in enumerate(self._rows):
            if i < len(predictions):
                name, p = predictions[i]
                label.setText(name)
                bar.setValue(round(p * 1000))
                bar.setFormat(f"{p:.1%}")
                label.show()
                bar.show()
            else:
                label.hide()
                bar.hide()
        self._paint_highlight()

    def clear(self) -> None:
        """No rows (the predictions shown belonged to a model no longer shown)."""
        self.show_predictions([], True)

    def highlight(self, label: str | None) -> None:
        """Mark the row of ``label``: the class the heatmaps explain (None: no row)."""
        self._highlighted = label
        self._paint_highlight()

    def highlighted(self) -> str | None:
        """The label of the marked row, if it is shown."""
        return next((name for name, _ in self._shown if name == self._highlighted), None)

    def _paint_highlight(self) -> None:
        for i, (label, _bar) in enumerate(self._rows):
            chosen = i < len(self._shown) and self._shown[i][0] == self._highlighted
            label.setStyleSheet("font-weight: bold; color: palette(highlight)" if chosen else "")
            label.setToolTip("The class the heatmaps explain" if chosen else
                             "Click to see where the network found this class")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        """A click on a row's label or bar picks that row's class."""
        if event.type() == QEvent.Type.MouseButtonPress:
            for i, (label, bar) in enumerate(self._rows):
                if watched in (label, bar) and i < len(self._shown):
                    self.class_clicked.emit(self._shown[i][0])
                    return True
        return super().eventFilter(watched, event)

    def click_row(self, index: int) -> None:
        """Act as if row ``index`` was clicked (keyboard users, tests)."""
        if index < len(self._shown):
            self.class_clicked.emit(self._shown[index][0])

    def shown(self) -> list[tuple[str, float]]:
        """What is on screen (for tests and exports)."""
        return list(self._shown)

    def untrained_warning_visible(self) -> bool:
        """Whether the untrained-weights warning is shown."""
        return not self._warning.isHidden()
