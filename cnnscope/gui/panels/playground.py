"""The kernel playground: slide a hand-made kernel over the photo, next to one the network learned.

Pick a preset (identity, blurs, sharpen, Sobel x / y, an outline detector) or type numbers in the
grid (which makes the preset "Typed in"), choose stride, padding and dilation, and see the photo
before, the result after, and the output size formula with the numbers filled in. Below, one
filter of the model's first convolution: its kernel as colours and its response to the same photo.
Everything is computed by the engine (services.playground); this panel only paints.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFormLayout, QGridLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from ...core.kernels import PRESET_NOTES, PRESETS, TYPED  # plain data (numpy only)
from ..requester import Requester
from ..services.playground import ApplyKernel, ApplyLearnedFilter
from ..session import Session
from ..views.image_view import ImageView

CELL_WIDTH, CELL_HEIGHT = 66, 30
ERROR_STYLE = "color:#c92a2a"


class _AtPhotoScale(ImageView):
    """A picture drawn at the photo's scale (or smaller when it does not fit), so an output
    smaller than the photo looks smaller: stride 2 shows half the size."""

    def __init__(self, photo: ImageView, placeholder: str = "") -> None:
        super().__init__(placeholder)
        self._photo = photo

    def fit(self) -> None:
        self.fitting = True
        if self.array is None:
            return
        h, w = self.array.shape[:2]
        area = self.viewport().size()
        zoom = max(0.05, min(area.width() / w, area.height() / h) * 0.98)
        if self._photo.array is not None and self._photo.fitting:
            zoom = min(zoom, self._photo.zoom)
        self._apply_zoom(zoom)


class KernelPlaygroundPanel(QWidget):
    """See the module docstring. Built from ``(session, engine)``; it re-applies both kernels when
    the session's inspection changes and when a control changes."""

    def __init__(self, session: Session, engine, parent=None) -> None:
        super().__init__(parent)
        self.session, self.requests = session, Requester(engine, self)
        self.shown = None  # the KernelApplied on screen
        self.shown_learned = None  # the LearnedFilterApplied on screen
        self._result_is_stale = False  # the result on screen was made from an earlier photo
        self._filling = False  # the grid is being filled by the program, not edited

        # --- your kernel ---------------------------------------------------------------------
        self.preset = QComboBox()
        for name in (*PRESETS, TYPED):
            self.preset.addItem(name)
            self.preset.setItemData(self.preset.count() - 1, PRESET_NOTES[name],
                                    Qt.ItemDataRole.ToolTipRole)
        self.preset.setToolTip("A ready-made kernel. Each does one classic job; hover over an item "
                               "to read which. Edit a number in the grid and it becomes "
                               "\u201cTyped in\u201d.")
        self.side = QComboBox()
        for side in (3, 5):
            self.side.addItem(f"{side} x {side}", side)
        self.side.setToolTip("How many pixels the kernel covers at once: 3 x 3 or 5 x 5. A bigger "
                             "kernel sees more of the neighbourhood.")
        self.grid = QTableWidget(3, 3)
        self.grid.horizontalHeader().hide()
        self.grid.verticalHeader().hide()
        for header, length in ((self.grid.horizontalHeader(), CELL_WIDTH),
                               (self.grid.verticalHeader(), CELL_HEIGHT)):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(length)
        self.grid.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.SelectedClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed
                                  | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.grid.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.grid.setToolTip("The kernel's numbers. At every position the pixels under the kernel "
                             "are multiplied by these numbers and added up: that sum is one pixel "
                             "of the output. Type a number (2, -0.5, 1/9) to try your own.")
        self.stride, self.padding, self.dilation = QSpinBox(), QSpinBox(), QSpinBox()
        for box, low, high, tip in (
                (self.stride, 1, 8, "How far the kernel jumps between two positions. Stride 2 "
                 "visits every second pixel, so the output is about half as wide and high."),
                (self.padding, 0, 10, "Rows and columns of zeros added around the photo, so the "
                 "kernel can sit on the border. Padding 1 keeps a 3 x 3 kernel's output as large "
                 "as the photo (at stride 1)."),
                (self.dilation, 1, 6, "Gaps between the kernel's taps. Dilation 2 spreads a 3 x 3 "
                 "kernel over 5 x 5 pixels: it sees farther with the same 9 numbers.")):
            box.setRange(low, high)
            box.setValue(1)  # all start at 1; padding 1 keeps a 3 x 3 output the photo's size
            box.setToolTip(tip)
            box.setKeyboardTracking(False)
        self.formula = QLabel("")
        self.formula.setTextFormat(Qt.TextFormat.RichText)
        self.formula.setWordWrap(True)
        self.formula.setToolTip("Output size = \u230a(n + 2\u00b7p \u2212 d\u00b7(k\u22121) \u2212 1)"
                                " / s\u230b + 1: n the input's side, p the padding, d the "
                                "dilation, k the kernel's side, s the stride; \u230a \u230b "
                                "rounds down.")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(ERROR_STYLE)
        self.error.hide()

        # --- the pictures --------------------------------------------------------------------
        waiting = "Inspect a photo to see it here"
        self.photo = ImageView(waiting)
        self.photo.setToolTip("The photo as the network saw it (its input), before the kernel")
        self.result = _AtPhotoScale(self.photo, waiting)
        self.result.setToolTip("The photo after your kernel, drawn at the photo's scale: a smaller "
                               "output looks smaller")
        self.photo_title, self.result_title = QLabel("<b>Before</b>: the photo"), QLabel("<b>After</b>")

        # --- a learned filter ----------------------------------------------------------------
        self.channel = QSpinBox()
        self.channel.setRange(0, 0)
        self.channel.setKeyboardTracking(False)
        self.channel.setToolTip("Which filter of the model's first convolution to show. Nobody "
                                "typed these numbers: the network learned them in training.")
        self.learned_text = QLabel("")
        self.learned_text.setWordWrap(True)
        self.learned_text.setTextFormat(Qt.TextFormat.RichText)
        self.learned_kernel = ImageView("The model's filter")
        self.learned_kernel.setToolTip("The learned kernel: its red, green and blue numbers as "
                                       "colours; mid grey is 0, brighter is positive, darker is "
                                       "negative")
        self.learned = _AtPhotoScale(self.photo, "Its response")
        self.learned.setToolTip("The filter's response to the photo before its bias: red where "
                                "it is positive, blue where negative, white near 0")
        self.learned_kernel_title = QLabel("<b>A learned filter</b>")
        self.learned_title = QLabel("<b>Its response</b> to the photo")

        self._lay_out()
        self.preset.currentTextChanged.connect(self._on_preset)
        self.side.currentIndexChanged.connect(lambda _i: self._on_size())
        self.grid.itemChanged.connect(self._on_cell)
        for box in (self.stride, self.padding, self.dilation):
            box.valueChanged.connect(lambda _v: self.apply())
        self.channel.valueChanged.connect(lambda _v: self.apply_learned())
        session.inspection_changed.connect(self._on_inspection)
        session.model_changed.connect(lambda _model: self._reset())
        self._fill(PRESETS[self.preset.currentText()][3])
        if session.inspection is not None:
            self.apply()
            self.apply_learned()

    def _lay_out(self) -> None:
        choose = QFormLayout()
        choose.addRow("Preset", self.preset)
        choose.addRow("Size", self.side)
        slide = QHBoxLayout()
        for text, box in (("Stride", self.stride), ("Padding", self.padding),
                          ("Dilation", self.dilation)):
            label = QLabel(text)
            label.setToolTip(box.toolTip())
            slide.addWidget(label)
            slide.addWidget(box)
        slide.addStretch(1)
        centred = QHBoxLayout()
        centred.addWidget(self.grid)
        centred.addStretch(1)
        mine = QGroupBox("Your kernel")
        column = QVBoxLayout(mine)
        column.addLayout(choose)
        column.addLayout(centred)
        column.addLayout(slide)
        column.addWidget(self.formula)
        column.addWidget(self.note)
        column.addWidget(self.error)
        column.addStretch(1)

        theirs = QGroupBox("The network's own kernel")
        learned = QVBoxLayout(theirs)
        row = QHBoxLayout()
        row.addWidget(QLabel("Filter"))
        row.addWidget(self.channel)
        row.addStretch(1)
        learned.addLayout(row)
        learned.addWidget(self.learned_text)
        learned.addStretch(1)
        for group in (mine, theirs):
            group.setMinimumWidth(2 * 32 + 5 * CELL_WIDTH)
            group.setMaximumWidth(2 * 32 + 5 * CELL_WIDTH + 40)

        layout = QGridLayout(self)
        layout.addWidget(mine, 0, 0, 2, 1)
        layout.addWidget(theirs, 2, 0, 2, 1)
        for row_, col, title, view in ((0, 1, self.photo_title, self.photo),
                                       (0, 2, self.result_title, self.result),
                                       (2, 1, self.learned_kernel_title, self.learned_kernel),
                                       (2, 2, self.learned_title, self.learned)):
            title.setWordWrap(True)
            layout.addWidget(title, row_, col)
            layout.addWidget(view, row_ + 1, col)
        for index in (1, 3):
            layout.setRowStretch(index, 1)
        for index in (1, 2):
            layout.setColumnStretch(index, 1)

    # --- the grid ----------------------------------------------------------------------------

    def kernel_rows(self) -> tuple[tuple[str, ...], ...]:
        """The grid's cells as typed, row by row."""
        return tuple(tuple((self.grid.item(r, c).text() if self.grid.item(r, c) else "")
                           for c in range(self.grid.columnCount()))
                     for r in range(self.grid.rowCount()))

    def _fill(self, rows) -> None:
        """Show ``rows`` of cell texts in the grid (no edit signal, no request)."""
        side = len(rows)
        self._filling = True
        try:
            self.grid.setRowCount(side)
            self.grid.setColumnCount(side)
            for r, row in enumerate(rows):
                for c, text in enumerate(row):
                    item = QTableWidgetItem(str(text))
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                    self.grid.setItem(r, c, item)
        finally:
            self._filling = False
        self.grid.setFixedSize(side * CELL_WIDTH + 2 * self.grid.frameWidth(),
                               side * CELL_HEIGHT + 2 * self.grid.frameWidth())
        index = self.side.findData(side)
        if index >= 0 and index != self.side.currentIndex():
            self.side.blockSignals(True)
            self.side.setCurrentIndex(index)
            self.side.blockSignals(False)

    def _set_preset_text(self, name: str) -> None:
        self.preset.blockSignals(True)
        self.preset.setCurrentText(name)
        self.preset.blockSignals(False)

    def _on_preset(self, name: str) -> None:
        sizes = PRESETS.get(name)
        if sizes is not None:  # "Typed in" keeps the grid as it is
            side = self.side.currentData()
            self._fill(sizes[side] if side in sizes else sizes[min(sizes)])
        self.apply()

    def _on_size(self) -> None:
        side = self.side.currentData()
        sizes = PRESETS.get(self.preset.currentText())
        if sizes is not None and side in sizes:
            self._fill(sizes[side])
        else:  # typed numbers: keep the middle, add zeros around it (or cut the border off)
            old = self.kernel_rows()
            shift = (len(old) - side) // 2
            self._fill([[old[r + shift][c + shift] if 0 <= r + shift < len(old)
                         and 0 <= c + shift < len(old) else "0" for c in range(side)]
                        for r in range(side)])
            self._set_preset_text(TYPED)
        self.apply()

    def _on_cell(self, _item) -> None:
        if self._filling:
            return
        self._set_preset_text(TYPED)
        self.apply()

    # --- asking ------------------------------------------------------------------------------

    def apply(self) -> None:
        """Ask the engine to slide the grid's kernel over the inspection's photo."""
        if self.session.inspection is None:
            return
        self.requests.ask(ApplyKernel(self.kernel_rows(), self.stride.value(), self.padding.value(),
                                      self.dilation.value()), self.show_kernel, self._kernel_failed)

    def apply_learned(self) -> None:
        """Ask for the chosen first-layer filter and its response to the photo."""
        if self.session.inspection is None:
            return
        self.requests.ask(ApplyLearnedFilter(self.channel.value()), self.show_learned,
                          self._learned_failed)

    def _on_inspection(self, result) -> None:
        if result is None:
            return
        self.photo.set_image(result.input_rgb)  # the new photo at once, whatever the kernel says
        h, w = result.input_rgb.shape[:2]
        self.photo_title.setText(f"<b>Before</b>: the photo, {h} x {w} pixels")
        self._result_is_stale = True  # until a kernel is applied to this photo
        self.apply()
        self.apply_learned()

    def _reset(self) -> None:
        """Another model: what showed the old one goes (the next inspection fills it again)."""
        self.requests.forget(ApplyKernel)
        self.requests.forget(ApplyLearnedFilter)
        self.shown = self.shown_learned = None
        waiting = "Inspect a photo to see it here"
        for view in (self.photo, self.result):
            view.clear(waiting)
        self.learned_kernel.clear("The model's filter")
        self.learned.clear("Its response")
        self.result_title.setText("<b>After</b>")
        self.formula.setText("")
        self.note.setText("")
        self.learned_text.setText("")
        self.error.hide()
        self.channel.blockSignals(True)
        self.channel.setValue(0)
        self.channel.blockSignals(False)

    # --- painting ----------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        QTimer.singleShot(0, self._refit)  # after the photo has refitted to its new pane

    def _refit(self) -> None:
        for view in (self.result, self.learned):
            if view.fitting:
                view.fit()

    def _kernel_failed(self, message: str) -> None:
        self.error.setText(message)
        self.error.show()
        if self._result_is_stale:  # the result on screen was made from another photo
            self.shown = None
            self.result.clear("Correct the kernel to see it on this photo")
            self.result_title.setText("<b>After</b>")

    def _learned_failed(self, message: str) -> None:
        self.learned_text.setText(f"<span style='{ERROR_STYLE}'>{html.escape(message)}</span>")

    def show_kernel(self, shown) -> None:
        """Paint a services.playground.KernelApplied."""
        self.shown = shown
        self._result_is_stale = False
        self.error.hide()
        self.photo.set_image(shown.photo)
        h, w = shown.photo.shape[:2]
        self.photo_title.setText(f"<b>Before</b>: the photo, {h} x {w} pixels")
        self.result.set_image(shown.picture)
        self._refit()
        oh, ow = shown.output_size
        self.result_title.setText(f"<b>After</b>: {oh} x {ow} pixels"
                                  + (" (signed: blue &lt; 0 &lt; red)" if shown.signed else ""))
        height, width = (html.escape(f) for f in shown.formulas)
        self.formula.setText(f"<b>Output size</b><br>height: {height}<br>width: {width}")
        self.note.setText(shown.note)

    def show_learned(self, shown) -> None:
        """Paint a services.playground.LearnedFilterApplied."""
        self.shown_learned = shown
        self.channel.blockSignals(True)
        self.channel.setRange(0, shown.channels - 1)
        self.channel.setValue(shown.channel)
        self.channel.blockSignals(False)
        self.learned_kernel.set_image(shown.kernel_picture)
        self.learned.set_image(shown.picture)
        self._refit()
        kh, kw = shown.kernel_size
        (sh, sw), (ph, pw), (dh, dw) = shown.stride, shown.padding, shown.dilation
        same = sh == sw and ph == pw and dh == dw
        slide = (f"stride {sh}, padding {ph}" + (f", dilation {dh}" if dh > 1 else "") if same else
                 f"stride {sh}x{sw}, padding {ph}x{pw}, dilation {dh}x{dw}")
        bias = ("" if shown.bias is None else
                f" The layer then adds its bias, {shown.bias:+.3g}, to every value.")
        oh, ow = shown.output_size
        height, width = (html.escape(f) for f in shown.formulas)
        self.learned_kernel_title.setText(f"<b>A learned filter</b>: {kh} x {kw} x 3")
        self.learned_title.setText(f"<b>Its response</b> to the photo: {oh} x {ow} pixels")
        self.learned_text.setText(
            f"Filter {shown.channel} of the {shown.channels} in <b>{html.escape(shown.layer)}</b>, "
            f"the model's first convolution: {kh}&nbsp;x&nbsp;{kw}, {slide}. Unlike yours, it reads red, "
            "green and blue together and sums all three into one map (blue &lt; 0 &lt; red, "
            f"full colour at \u00b1{shown.scale:.2g}).{html.escape(bias)}"
            f"<br><b>Output size</b><br>height: {height}<br>width: {width}")
