"""Redraw the README's screenshots: the window on the demo model, and on MobileNetV2 with real
ImageNet weights (needs $CNNSCOPE_TEST_WEIGHTS naming a folder with them; skipped without). With
--dark, one shot in a dark Fusion palette instead; run it scaled to check HiDPI:

    xvfb-run -s "-screen 0 1600x900x24" python docs/screenshots.py
    QT_SCALE_FACTOR=1.5 python docs/screenshots.py --dark
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "sample_images"
WEIGHTS = Path(os.environ.get("CNNSCOPE_TEST_WEIGHTS", HERE.parent.parent / "shared" / "weights"))


def inception_module_picture() -> None:
    """One Inception v3 module opened among closed ones, as `cnnscope graph` draws it, cut to
    the module (the whole graph is 14,000 px tall)."""
    from PIL import Image

    from cnnscope.core.graph import build_graph
    from cnnscope.core.graph_layout import lay_out
    from cnnscope.core.graph_svg import write_drawing
    from cnnscope.core.weights import load_model

    graph = build_graph(load_model("inception_v3", "random"))  # the graph does not depend on weights
    drawing = lay_out(graph.collapsed(set(graph.blocks) - {"Mixed_5b"}))
    module = {p.node.id for p in drawing.nodes if p.node.block == "Mixed_5b"}
    around = module | {e.source for e in drawing.edges if e.target in module} | {
        e.target for e in drawing.edges if e.source in module}  # what feeds it, what it feeds
    inside = [p for p in drawing.nodes if p.node.id in around]
    full = Path(tempfile.mkdtemp()) / "inception.png"
    write_drawing(drawing, full)
    with Image.open(full) as image:
        legend = image.height - round(drawing.height)  # the legend above the drawing
        top = max(0, min(p.y for p in inside) - 12)
        bottom = max(p.y + p.h for p in inside) + 12
        image.crop((0, 0, image.width, legend)).save(HERE / "graph-legend.tmp.png")
        body = image.crop((0, legend + int(top), image.width, legend + int(bottom)))
        with Image.open(HERE / "graph-legend.tmp.png") as head:
            out = Image.new("RGB", (image.width, head.height + body.height), "white")
            out.paste(head, (0, 0))
            out.paste(body, (0, head.height))
        out.save(HERE / "graph-inception.png")
    (HERE / "graph-legend.tmp.png").unlink()


def main() -> int:
    """Drive the real window through a short script of steps, saving a PNG at the marked ones."""
    app = QApplication(sys.argv[:1])
    dark = "--dark" in sys.argv
    if not dark:
        inception_module_picture()
    if dark:
        _dark_palette(app)
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    mobilenet = WEIGHTS / "mobilenet_v2-b0353104.pth"
    offer_shared_mobilenet()
    settings = QSettings(str(HERE / ".screenshots.ini"), QSettings.Format.IniFormat)
    settings.clear()
    window = MainWindow(Engine(), str(SAMPLES / "shape_star.png"), settings)
    window.resize(1500, 900)
    window.show()

    def grid_ready() -> bool:
        return window.features._geometry is not None

    steps = [
        (grid_ready, lambda: window.layers.select("features.block3.relu2")),
        (lambda: window.features._geometry.layer == "features.block3.relu2",
         lambda: window.features.grid.clicked.emit(60, 20)),
        (lambda: "channel" in window.features.stats.text(),
         lambda: window.grab().save(str(HERE / ("window-dark-hidpi.png" if dark else "window-demo.png")))),
    ]
    if not dark:
        steps += [
            (lambda: True, window.toggle_presentation),
            (lambda: window.presentation.middle.array is not None,
             lambda: window.presentation.grab().save(str(HERE / "window-presentation.png"))),
            (lambda: True, window.toggle_presentation),
        ]
        panel = window.transfer
        dataset = Path(tempfile.mkdtemp()) / "cnnscope-shapes"

        def train() -> None:
            window.tabs.setCurrentWidget(panel)
            panel.folder.setText(str(dataset))
            panel.preset.setCurrentIndex(panel.preset.findData("feature-extractor"))
            panel.epochs.setValue(12)
            panel.batch.setValue(16)
            panel.lr.setValue(0.005)
            panel.flip.setChecked(True)
            panel.start.click()
        steps += [
            (lambda: True, lambda: window.transfer.trainer.make_dataset(str(dataset))),
            (lambda: dataset.is_dir() and not window.transfer.trainer.running, train),
            (lambda: panel.curve_points() >= 4,
             lambda: window.grab().save(str(HERE / "window-transfer-running.png"))),
            (lambda: panel.save.isEnabled(), lambda: window.grab().save(str(HERE / "window-transfer-done.png"))),
        ]

        def another(preset: str):
            def start() -> None:
                panel.preset.setCurrentIndex(panel.preset.findData(preset))  # its own settings
                panel.flip.setChecked(False)  # as a new user starts: no augmentation
                panel.start.click()
            return start

        def show_runs() -> None:
            panel.results.setCurrentWidget(panel.runs)
            panel.runs.table.selectRow(2)
        steps += [
            (lambda: True, another("freeze-first")),
            (lambda: len(panel.runs.runs) == 2, another("early-features")),
            (lambda: len(panel.runs.runs) == 3, show_runs),
            (lambda: True, lambda: window.grab().save(str(HERE / "window-transfer-runs.png"))),
            (lambda: True, another("fine-tune-all")),
            (lambda: len(panel.runs.runs) == 4, lambda: panel.results.setCurrentIndex(2)),
            (lambda: panel.map_after.shown_count > 0,
             lambda: window.grab().save(str(HERE / "window-transfer-maps.png"))),
            (lambda: True, lambda: panel.results.setCurrentIndex(0)),
        ]
    if not dark:
        steps += [  # a layer without kernels is selected: the first-layer filters fill the tab
            (lambda: True, lambda: window.tabs.setCurrentWidget(window.filters)),
            (lambda: window.filters.first.array is not None and window.filters.selected.isHidden(),
             lambda: window.filters.grab().save(str(HERE / "demo-filters.png"))),
        ]

        def arithmetic() -> None:
            window.tabs.setCurrentWidget(window.mechanism)
            window.layers.select("features.block1.conv")

        def first_layer_value() -> None:
            from cnnscope.gui.services.arithmetic import MapPosition
            window.session.position = MapPosition("features.block1.conv", 0, 10, 12)

        steps += [
            (lambda: True, arithmetic),
            (lambda: window.session.layer == "features.block1.conv", first_layer_value),
            (lambda: "the map holds" in window.arithmetic.numbers.toPlainText()
             and window.session.position.layer == "features.block1.conv",
             lambda: window.grab().save(str(HERE / "window-arithmetic.png"))),
            (lambda: True, lambda: window.layers.select("features.block3.relu2")),
        ]

        def lenet() -> None:
            window.tabs.setCurrentWidget(window.features)
            window.model_bar.load_named("lenet5", "pretrained")
            window.open_path(str(SAMPLES / "digit_7.png"))

        steps += [
            (lambda: True, lenet),
            (lambda: window.session.inspection is not None and window.session.inspection.model == "lenet5"
             and window.session.image.name == "digit_7.png" and window.features.grid.array is not None
             and window.session.grid is not None and window.session.grid.layer.startswith("features."),
             lambda: window.grab().save(str(HERE / "window-lenet.png"))),
            (lambda: True, lambda: window.model_bar.load_named("demo_shapes", "pretrained")),
            (lambda: window.session.model is not None and window.session.model.name == "demo_shapes",
             lambda: None),
        ]
    if mobilenet.is_file() and not dark:
        def switch() -> None:
            window.tabs.setCurrentWidget(window.features)
            window.model_bar.load_file("mobilenet_v2", str(mobilenet))
            window.open_path(str(SAMPLES / "chelsea.png"))
        steps += [
            (lambda: True, switch),
            (lambda: window.predictions.shown()[:1] and window.predictions.shown()[0][0] == "Egyptian cat"
             and window.features._geometry is not None and window.features._geometry.layer.startswith("features."),
             lambda: window.features.grid.clicked.emit(30, 30)),
            (lambda: "channel" in window.features.stats.text() and "features.7" in window.features.stats.text(),
             lambda: window.grab().save(str(HERE / "window-mobilenet.png"))),
            (lambda: True, lambda: window.predictions.click_row(1)),  # "tiger cat"
            (lambda: "tiger cat" in window.heatmaps.caption.text(),
             lambda: window.grab().save(str(HERE / "window-gradcam.png"))),
        ]

        def channel_images() -> None:
            window.tabs.setCurrentWidget(window.units)
            window.layers.select("features.6")
            window.units.channels.setText("0-7")
            window.units.steps.setValue(96)
            window.units.visualise()

        def attack() -> None:
            window.units.modes.setCurrentIndex(2)
            window.units.attack()
        steps += [
            (lambda: True, channel_images),
            (lambda: window.units.run_channels.isEnabled() and window.units.channel_images.array is not None,
             lambda: window.grab().save(str(HERE / "window-units.png"))),
            (lambda: True, attack),
            (lambda: window.units.run_attack.isEnabled() and "Before" in window.units.attack_caption.text(),
             lambda: window.grab().save(str(HERE / "window-adversarial.png"))),
        ]

        def compare() -> None:
            view = window.compare
            for index, name in enumerate(("mobilenet_v2", "demo_shapes", "", "")):
                view.model_boxes[index].setCurrentIndex(view.model_boxes[index].findData(name))
                view.set_weights(index, "pretrained")
            view.mode.setCurrentIndex(view.mode.findData("stride"))
            view.resolution.setCurrentIndex(view.resolution.findData(8))
            window.tabs.setCurrentWidget(view)
            window.compare.run()
        def graph() -> None:
            window.architecture.setCurrentWidget(window.graph)

        def open_block() -> None:
            window.graph.toggle_block("block:features.3")

        def playground() -> None:
            window.tabs.setCurrentWidget(window.mechanism)
            window.mechanism.setCurrentWidget(window.playground)
            window.playground.preset.setCurrentText("Sobel x")
            window.playground.channel.setValue(5)

        def presentation_arithmetic() -> None:
            from PySide6.QtCore import Qt
            window.mechanism.setCurrentWidget(window.arithmetic)
            window.layers.select("features.0.0")
            window.toggle_presentation()
            window.presentation.showNormal()  # offscreen "full screen" is 800 x 800: a projector's size instead
            window.presentation.resize(1280, 800)
            window.presentation._handle_key(Qt.Key.Key_A)

        def leave_presentation() -> None:
            window.toggle_presentation()
            window.tabs.setCurrentWidget(window.features)

        graph_drawn = (lambda: window.graph.shown is not None and window.graph.shown.model == "mobilenet_v2")
        steps += [
            (lambda: True, lambda: window.tabs.setCurrentWidget(window.architecture)),
            (lambda: window.summary.shown_model == "mobilenet_v2" and window.summary.table.rowCount() > 10,
             lambda: window.grab().save(str(HERE / "window-summary.png"))),
            (lambda: True, graph),
            (graph_drawn, open_block),
            (lambda: graph_drawn() and "features.3" not in window.graph.shown.collapsed,
             lambda: setattr(window.session, "layer", "features.3.conv.1.0")),
            (lambda: window.graph.canvas.selected_ids(),
             lambda: window.grab().save(str(HERE / "window-graph.png"))),
            (lambda: True, playground),
            (lambda: window.playground.shown is not None and window.playground.shown_learned is not None
             and window.playground.shown_learned.channel == 5 and window.playground.shown.signed,
             lambda: window.grab().save(str(HERE / "window-playground.png"))),
            (lambda: True, presentation_arithmetic),
            (lambda: window.session.arithmetic is not None
             and window.session.arithmetic.position.layer == "features.0.0"
             and "the map holds" in window.presentation.numbers.toPlainText(),
             lambda: window.presentation.grab().save(str(HERE / "presentation-arithmetic.png"))),
            (lambda: True, leave_presentation),
            (lambda: True, compare),
            (lambda: len(window.compare.shown_layers()) == 2,
             lambda: window.grab().save(str(HERE / "window-compare.png"))),
        ]

        def live() -> None:
            from cnnscope.core.images import open_image
            from cnnscope.gui.live import ArraySource

            photos = [open_image(SAMPLES / n) for n in ("coffee.jpg", "chelsea.png", "astronaut.jpg")]
            window.live.mode.setCurrentIndex(window.live.mode.findData("cam"))
            window.live.start_live(ArraySource(photos, interval_ms=15, loop=True))
        steps += [
            (lambda: True, live),
            (lambda: window.live.controller.shown_count >= 12 and "espresso" in window.live.predictions.text(),
             lambda: window.grab().save(str(HERE / "window-live.png"))),
            (lambda: True, window.live.stop_live),
        ]

        def own_model() -> None:
            """A torchvision model object handed in as one's own (what cnnscope.show does)."""
            import torch
            import torchvision

            from cnnscope.api import open_model

            net = torchvision.models.mobilenet_v2()
            net.load_state_dict(torch.load(mobilenet, weights_only=True))
            categories = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]
            window.tabs.setCurrentWidget(window.heatmaps)
            window.model_bar.adopt(open_model(net, classes=categories))

        steps += [
            (lambda: True, own_model),
            (lambda: window.session.model is not None and window.session.model.weights == "given"
             and window.heatmaps.overlay is not None and window.session.heatmap is not None
             and window.session.heatmap.label == "Egyptian cat",
             lambda: window.grab().save(str(HERE / "window-own-model.png"))),
        ]

        def own_program() -> None:
            """The same real weights exported as a torch.export program, opened from the Model
            menu with its class names stated in the dialog."""
            import tempfile

            import torch
            import torchvision

            folder = Path(tempfile.mkdtemp(prefix="cnnscope-shot-"))
            net = torchvision.models.mobilenet_v2()
            net.load_state_dict(torch.load(mobilenet, weights_only=True))
            program = folder / "my_mobilenet.pt2"
            torch.export.save(torch.export.export(net.eval(), (torch.zeros(1, 3, 224, 224),)), str(program))
            labels = folder / "imagenet_classes.txt"
            labels.write_text("\n".join(torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"]))
            window.tabs.setCurrentWidget(window.features)
            window.model_bar.open_user_model(str(program), stated=(("labels_file", str(labels)),))

        steps += [
            (lambda: True, own_program),
            (lambda: window.session.model is not None and window.session.model.name == "my_mobilenet"
             and window.predictions.shown()[:1] and window.predictions.shown()[0][0] == "Egyptian cat"
             and window.features.grid.array is not None,
             lambda: window.grab().save(str(HERE / "window-own-program.png"))),
        ]

    play(app, steps)
    window.close()
    (HERE / ".screenshots.ini").unlink(missing_ok=True)
    return 0


def offer_shared_mobilenet() -> bool:
    """Point torch's cache at a private folder holding the shared MobileNetV2 ImageNet weights, so
    "pretrained" finds them offline; False when they are not there."""
    mobilenet = WEIGHTS / "mobilenet_v2-b0353104.pth"
    if not mobilenet.is_file():
        return False
    cache = Path(tempfile.mkdtemp()) / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    (cache / mobilenet.name).symlink_to(mobilenet)
    os.environ["TORCH_HOME"] = str(cache.parent.parent)
    return True


def play(app: QApplication, steps: list, limit_ms: int = 300_000) -> bool:
    """Run the window's event loop through ``steps``, (ready, act) pairs: each act once its ready
    says so, in order; True when every step ran before ``limit_ms``."""
    def tick() -> None:
        if not steps:
            app.quit()
            return
        ready, act = steps[0]
        if ready():
            steps.pop(0)
            act()
        QTimer.singleShot(300, tick)

    QTimer.singleShot(300, tick)
    QTimer.singleShot(limit_ms, app.quit)
    app.exec()
    return not steps


def _dark_palette(app: QApplication) -> None:
    """Fusion with a dark palette, as a dark desktop theme gives."""
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QStyleFactory

    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    role = QPalette.ColorRole
    for r, colour in ((role.Window, "#2b2b2b"), (role.WindowText, "#e6e6e6"), (role.Base, "#1e1e1e"),
                      (role.AlternateBase, "#2f2f2f"), (role.Text, "#e6e6e6"), (role.Button, "#3a3a3a"),
                      (role.ButtonText, "#e6e6e6"), (role.Highlight, "#3d7bd9"),
                      (role.HighlightedText, "#ffffff"), (role.Mid, "#9a9a9a")):
        palette.setColor(r, QColor(colour))
    app.setPalette(palette)


if __name__ == "__main__":
    sys.exit(main())
