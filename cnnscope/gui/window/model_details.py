"""The dialog that asks what cnnscope cannot work out about the user's own model: the side of
its input, the normalisation it was trained with and its class names, each with a sensible
default and a sentence on when to change it. It returns plain data (no torch here): the engine
checks it and reads the labels file (services.model.stated_hints)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

#: (key, shown, mean, std): one value stands for every channel
NORMALISATIONS = (
    ("auto", "Work it out (ImageNet's for colour, 0.5 for grey)", None, None),
    ("imagenet", "ImageNet's: most pretrained CNNs", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    ("half", "0.5 and 0.5: inputs from -1 to 1", (0.5,), (0.5,)),
    ("none", "None: inputs from 0 to 1", (0.0,), (1.0,)),
    ("custom", "Other values...", None, None),
)
AUTO_SIZE = 0  # the spin box's "work it out" value


class ModelDetailsDialog(QDialog):
    """See the module docstring. ``current``: the (key, value) pairs stated so far; ``shown``:
    services.model.ModelLoaded.preprocessing of the model now shown (its values, as hints)."""

    def __init__(self, model_name: str, current: tuple = (), shown: dict | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About your model: {model_name}")
        stated, shown = dict(current), shown or {}
        intro = QLabel("cnnscope works out what it can from the model itself. State here what it "
                       "cannot know: the numbers the model was trained with.")
        intro.setWordWrap(True)
        self.size = QSpinBox()
        self.size.setRange(AUTO_SIZE, 2048)
        self.size.setSpecialValueText("Work it out (tries 224, 32, 28...)")
        self.size.setSuffix(" px")
        self.size.setValue(stated.get("input_size") or AUTO_SIZE)
        self.size.setToolTip("The side of the square image the model takes: 28 or 32 for MNIST- "
                             "and CIFAR-style nets, 224 for most ImageNet ones"
                             + (f" (now {shown['input_size']} px)" if shown.get("input_size") else ""))
        self.normalisation = QComboBox()
        for key, text, _mean, _std in NORMALISATIONS:
            self.normalisation.addItem(text, key)
        self.mean, self.std = QLineEdit(), QLineEdit()
        for edit, what in ((self.mean, "mean"), (self.std, "std")):
            edit.setPlaceholderText("e.g. 0.5 or 0.485, 0.456, 0.406")
            edit.setToolTip(f"The normalisation's {what}: one value per channel, or one for all")
        self.normalisation.currentIndexChanged.connect(self._normalisation_chosen)
        self._show_normalisation(stated.get("mean"), stated.get("std"))
        self.labels = QLineEdit(stated.get("labels_file") or "")
        self.labels.setPlaceholderText("none: the outputs are numbered")
        self.labels.setToolTip("A text file with one class name per line (or a JSON list), in the "
                               "order of the model's outputs")
        browse = QPushButton("Browse...")
        browse.clicked.connect(self._choose_labels)
        labels_row = QHBoxLayout()
        labels_row.addWidget(self.labels, 1)
        labels_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Input size", self.size)
        form.addRow("Normalisation", self.normalisation)
        form.addRow("  mean", self.mean)
        form.addRow("  std", self.std)
        form.addRow("Class names", labels_row)
        self.problem = QLabel("")
        self.problem.setStyleSheet("color: #b00020")
        self.problem.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Open")
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    # --- what the user stated ---------------------------------------------------------------

    def stated(self) -> tuple:
        """The (key, value) pairs stated, sorted: services.model.LoadModel.stated."""
        values: dict = {}
        if self.size.value() != AUTO_SIZE:
            values["input_size"] = self.size.value()
        mean, std = self._normalisation_values()
        if mean is not None:
            values["mean"], values["std"] = mean, std
        if self.labels.text().strip():
            values["labels_file"] = self.labels.text().strip()
        return tuple(sorted(values.items()))

    def _normalisation_values(self) -> tuple[tuple | None, tuple | None]:
        key = self.normalisation.currentData()
        if key == "custom":
            return _numbers(self.mean.text()), _numbers(self.std.text())
        found = next(entry for entry in NORMALISATIONS if entry[0] == key)
        return found[2], found[3]

    def _accept_if_valid(self) -> None:
        """The form's own checks; the engine checks the rest (and says so in the banner)."""
        problem = ""
        if self.normalisation.currentData() == "custom":
            mean, std = self._normalisation_values()
            if mean is None or std is None:
                problem = "Write the mean and the std as numbers: one for all channels, or three."
            elif len(mean) not in (1, 3) or len(std) != len(mean):
                problem = "Give one mean and one std for all channels, or three of each (R, G, B)."
            elif not all(v > 0 for v in std):
                problem = "Every std value must be above 0 (inputs are divided by it)."
        labels = self.labels.text().strip()
        if labels and not Path(labels).expanduser().is_file():
            problem = f"There is no file {labels}."
        self.problem.setText(problem)
        if not problem:
            self.accept()

    # --- the form ---------------------------------------------------------------------------

    def _show_normalisation(self, mean, std) -> None:
        key = "auto"
        if mean is not None:
            key = next((k for k, _t, m, s in NORMALISATIONS if m is not None and tuple(m) == tuple(mean)
                        and tuple(s) == tuple(std)), "custom")
        self.normalisation.setCurrentIndex(self.normalisation.findData(key))
        if key == "custom":
            self.mean.setText(", ".join(f"{v:g}" for v in mean))
            self.std.setText(", ".join(f"{v:g}" for v in std))
        self._normalisation_chosen()

    def _normalisation_chosen(self) -> None:
        custom = self.normalisation.currentData() == "custom"
        for edit in (self.mean, self.std):
            edit.setEnabled(custom)
        if not custom:
            mean, std = self._normalisation_values()
            self.mean.setText("" if mean is None else ", ".join(f"{v:g}" for v in mean))
            self.std.setText("" if std is None else ", ".join(f"{v:g}" for v in std))

    def _choose_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Class names", "",
                                              "Labels (*.txt *.json);;All files (*)")
        if path:
            self.labels.setText(path)


def _numbers(text: str) -> tuple[float, ...] | None:
    """Numbers separated by commas or spaces, or None when any is not a finite number."""
    parts = [p for p in text.replace(",", " ").split() if p]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    if not values or not all(abs(v) < float("inf") for v in values):
        return None
    return values
