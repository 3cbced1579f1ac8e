"""The window's menus and their shortcuts: every action calls a panel, the model bar or the window."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu


def add_action(window, menu: QMenu, text: str, shortcut, slot, tip: str) -> QAction:
    """An action in ``menu`` with a shortcut (or None), calling ``slot``, explained by ``tip``."""
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    action.setToolTip(tip)
    action.setStatusTip(tip)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(w) -> None:
    """File, View, Model and Help for main window ``w``."""
    file_menu = w.file_menu = w.menuBar().addMenu("&File")
    add_action(w, file_menu, "&Open image...", QKeySequence.StandardKey.Open, w.choose_image,
               "Open an image file (Ctrl+O); you can also drop files on the window")
    add_action(w, file_menu, "&Paste image", QKeySequence.StandardKey.Paste, w.paste_image,
               "Inspect the image on the clipboard (Ctrl+V)")
    file_menu.addAction(w.live.camera_action)
    file_menu.addAction(w.live.video_action)
    # Looking for cameras loads Qt Multimedia: only when the user goes near them.
    file_menu.aboutToShow.connect(w.live.find_cameras_once)
    file_menu.addSeparator()
    add_action(w, file_menu, "&Export current view...", "Ctrl+E", w.export_view,
               "Save the feature grid or filters shown now as PNG")
    add_action(w, file_menu, "Save feature &grid...", None, lambda: w.save_png(w.features.grid),
               "Save the feature grid as PNG (the same pixels 'cnnscope render' writes)")
    add_action(w, file_menu, "Save &filters...", None, lambda: w.save_png(w.filters.first),
               "Save the first-layer filters as PNG")
    add_action(w, file_menu, "Export heatmap &overlay...", "Ctrl+Shift+E", w.heatmaps.export_overlay,
               "Save the heatmap over the photo as PNG (the same pixels 'cnnscope render --cam' "
               "writes)")
    file_menu.addSeparator()
    add_action(w, file_menu, "Make sample &dataset...", None, w.transfer.make_sample_dataset,
               "Draw a small folder of new shapes (arrow, moon, diamond) to try transfer learning")
    file_menu.addSeparator()
    add_action(w, file_menu, "&Quit", QKeySequence.StandardKey.Quit, w.close, "Quit cnnscope")

    view = w.menuBar().addMenu("&View")
    add_action(w, view, "&Next layer", "PgDown", lambda: w.layers.step(1),
               "Show the next layer's feature maps (Page Down)")
    add_action(w, view, "&Previous layer", "PgUp", lambda: w.layers.step(-1),
               "Show the previous layer's feature maps (Page Up)")
    grid = w.features.grid
    add_action(w, view, "Zoom &in", QKeySequence.StandardKey.ZoomIn, grid.zoom_in, "Enlarge the feature grid")
    add_action(w, view, "Zoom &out", QKeySequence.StandardKey.ZoomOut, grid.zoom_out, "Shrink the feature grid")
    add_action(w, view, "&Fit feature grid", "Ctrl+0", grid.fit, "Show the whole feature grid")
    colormaps = view.addMenu("&Colormap")
    colormaps.setToolTipsVisible(True)
    for index in range(w.features.cmap.count()):
        name = w.features.cmap.itemText(index)
        add_action(w, colormaps, name, None, lambda _=False, n=name: w.features.cmap.setCurrentText(n),
                   f"Draw activations with matplotlib's {name} colormap")
    sort = add_action(w, view, "&Most active channels first", None,
                      lambda checked: w.features.sort.setCurrentIndex(
                          w.features.sort.findData("mean" if checked else "none")),
                      "Order the grid by mean activation")
    sort.setCheckable(True)
    w.features.sort.currentIndexChanged.connect(lambda _: sort.setChecked(w.features.sort_key == "mean"))
    whole = w.whole_image_action = add_action(
        w, view, "Whole ima&ge", "Ctrl+Shift+W", w.set_whole_image,
        "Show the network the whole photo, shrunk and padded to a square, instead of the centre "
        "crop it was trained on (Ctrl+Shift+W); the Input panel's Photo tab shows what a crop leaves out")
    whole.setCheckable(True)
    whole.setChecked(w.inspector.framing == "whole")
    view.addSeparator()
    for number, (panel, _title, text, tip) in enumerate(w.tab_entries(), start=1):
        shortcut = f"Ctrl+{number % 10}" if number <= 10 else None  # the tenth tab is Ctrl+0
        add_action(w, view, text, shortcut, lambda _=False, p=panel: w.tabs.setCurrentWidget(p), tip)
    view.addSeparator()
    add_action(w, view, "&Presentation mode", "F11", w.toggle_presentation,
               "Full screen, large type, keyboard-driven: arrows step layers, C toggles CAM, "
               "1-9 pick samples, Esc leaves")

    bar = w.model_bar
    model = w.menuBar().addMenu("&Model")
    model.addMenu(bar.models_menu)
    model.addMenu(bar.devices_menu)
    model.addSeparator()
    add_action(w, model, "Open &your model (.pt2 / .py)...", None, bar.choose_user_model,
               "A torch.export program (read as data: its graph and tensors), or a function in "
               "your own Python file that builds the model (it runs: only open code you trust)")
    add_action(w, model, "&timm model...", None, bar.choose_timm_model,
               "A model from the timm library by name (needs timm installed)")
    add_action(w, model, "&Describe your model...", None, bar.describe_model,
               "State what cnnscope cannot work out about your model: its input size, the "
               "normalisation it was trained with, its class names")
    model.addSeparator()
    add_action(w, model, "Use &pretrained weights", None, bar.use_pretrained,
               "torchvision's ImageNet weights (downloaded once, then cached); the demo's own")
    add_action(w, model, "Load &weights file...", None, lambda: bar.choose_weights_file(),
               "Load a state_dict or cnnscope checkpoint for the chosen model")
    add_action(w, model, "Use &untrained weights", None, bar.use_untrained,
               "Random weights: see what a network looks like before training")
    add_action(w, model, "&Cancel download", None, bar.cancel_download,
               "Stop a pretrained download and keep the current model")
    help_menu = w.menuBar().addMenu("&Help")
    add_action(w, help_menu, "&About cnnscope", None, w.about, "What cnnscope is")
