"""A non-modal message strip: errors never block the window or pile up as dialogs."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

STYLES = {"error": "background:#fde2e1; color:#7a1c1c; border:1px solid #e5a3a0",
          "info": "background:#e3f0ff; color:#123a6b; border:1px solid #9cc2f0"}


class Banner(QFrame):
    """One message at a time (a new one replaces the old), optional action buttons, a close box."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self._layout = QHBoxLayout(self)
        self._layout.addWidget(self.label, 1)
        self._actions: list[QPushButton] = []
        close = QPushButton("x")
        close.setFlat(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.hide)
        self._layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, kind: str = "error", actions=()) -> None:
        """Show ``text``; ``actions`` are (button text, callback) pairs."""
        for button in self._actions:
            button.deleteLater()
        self._actions = []
        for title, callback in actions:
            button = QPushButton(title)
            button.clicked.connect(callback)
            button.clicked.connect(self.hide)
            self._layout.insertWidget(self._layout.count() - 1, button)
            self._actions.append(button)
        self.setStyleSheet(f"QFrame{{{STYLES[kind]}}} QLabel{{border:none}}")
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        """The message shown ('' when hidden)."""
        return self.label.text() if self.isVisible() else ""
