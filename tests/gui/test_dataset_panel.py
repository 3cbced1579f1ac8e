"""The Dataset tab: a folder scanned in the background with the model shown, its map (one dot per
image, coloured by class folder, a click opens the photo), a unit's top images, and the same top
images beside a channel clicked in Feature maps."""

from __future__ import annotations

import numpy as np

WAIT_MS = 60_000


def test_a_folder_is_scanned_in_the_background_and_drawn(make_window, qtbot, tmp_path):
    from cnnscope.core.shapes import write_shape_folder

    data = tmp_path / "shapes"
    write_shape_folder(data, per_class=4, seed=5, size=64)
    (data / "moon" / "broken.png").write_text("not a picture")
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    window.layers.select("features.block3.relu2")
    qtbot.waitUntil(lambda: window.session.layer == "features.block3.relu2", timeout=WAIT_MS)
    panel = window.dataset
    panel.workers = 0  # decoding in this process: a worker process takes seconds to start here
    window.tabs.setCurrentWidget(panel)
    panel.folder.setText(str(data))
    panel.scan.click()
    assert not panel.scan.isEnabled() and panel.cancel.isEnabled()  # running, in the background
    assert window.session.inspection is not None  # the viewer is not blocked meanwhile
    qtbot.waitUntil(lambda: window.session.scan is not None and panel.map.shown_count == 12, timeout=WAIT_MS)
    info = window.session.scan
    assert info.scanned == 12 and info.skipped == 1 and info.complete
    assert set(info.layers) == {"features.block3.relu2", "features.block4"}  # selected layer + CAM layer
    assert "1 unreadable file(s) skipped (moon/broken.png" in panel.status.text()
    assert (tmp_path / "shapes.scan" / "demo_shapes-pretrained" / "state.npz").is_file()
    assert sorted(panel.map.names) == ["arrow", "diamond", "moon"]
    qtbot.waitUntil(lambda: panel.tops_caption.text().startswith("<b>features.block3.relu2</b> channel 0"),
                    timeout=WAIT_MS)
    assert panel.tops.array is not None and panel.tops.array.shape[0] > 200  # 3 x 3 crops

    # a channel clicked in Feature maps: its top images there, and here
    window.tabs.setCurrentWidget(window.features)
    window.features.channel_clicked.emit(7)
    qtbot.waitUntil(lambda: window.features.dataset_tops.isVisible(), timeout=WAIT_MS)
    assert "channel 7's top 9 images" in window.features.dataset_caption.text()
    qtbot.waitUntil(lambda: panel.unit == ("features.block3.relu2", 7), timeout=WAIT_MS)

    # a channel image clicked in What units see: that channel, and its top images there too
    units = window.units
    window.tabs.setCurrentWidget(units)
    units.layer.setCurrentText("features.block3.relu2")
    units.channels.setText("0-3")
    units.steps.setValue(4)
    units.visualise()
    qtbot.waitUntil(lambda: units._channels_shown is not None, timeout=WAIT_MS)
    count, columns, height, width, pad = units._channels_shown.layout
    units.channel_images.clicked.emit(pad + 2 * (width + pad) + 5, pad + 5)  # the third image
    assert window.session.channel == 2
    qtbot.waitUntil(lambda: units.dataset_tops.isVisible(), timeout=WAIT_MS)
    assert "features.block3.relu2 channel 2's top 9 images" in units.dataset_caption.text()

    # a dot of the map opens its photo in the window
    x, y = panel.map._pixels()[3]
    assert panel.map.index_at(x, y) == 3
    path = panel.map.paths[3]
    panel.map.opened.emit(path)
    qtbot.waitUntil(lambda: window.session.image is not None and window.session.image.path == path,
                    timeout=WAIT_MS)


def test_the_map_separates_what_the_features_separate():
    """PCA and t-SNE of two clearly different groups of features: the groups stay apart."""
    from cnnscope.core.scan.embedding import embed

    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (30, 20)), rng.normal(6, 1, (30, 20))]).astype(np.float32)
    for method in ("pca", "tsne"):
        coords = embed(features, method)
        a, b = coords[:30], coords[30:]
        nearest = [np.argsort(np.hypot(*(coords - point).T))[1] for point in coords]
        same = sum((i < 30) == (n < 30) for i, n in enumerate(nearest))
        assert same == 60, method  # every image's nearest neighbour on the map is of its group
        assert np.linalg.norm(a.mean(0) - b.mean(0)) > 2 * max(a.std(), b.std()), method


def test_a_first_layer_filter_clicked_becomes_the_session_channel(make_window, qtbot):
    """Clicking a filter in the Filters tab selects that channel of the first layer: Feature maps
    draws it over the photo (and, with a scan of that layer, its top images)."""
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None and window.filters._first is not None,
                    timeout=WAIT_MS)
    window.tabs.setCurrentWidget(window.filters)
    _count, columns, height, width, pad = window.filters._first.first_layout
    x, y = pad + 2 * (width + pad) + width // 2, pad + height // 2  # the third filter of the first row
    window.filters.first.clicked.emit(x, y)
    first = window.filters._first.first_name
    assert (window.session.layer, window.session.channel) == (first, 2)
    qtbot.waitUntil(lambda: window.features.detail.array is not None
                    and f"{first}, channel 2" in window.features.stats.text(), timeout=WAIT_MS)


def test_a_slow_map_never_holds_up_the_viewer(make_window, qtbot, tmp_path, monkeypatch):
    """t-SNE of a large scan takes minutes: it is drawn off the engine's thread, so a new photo is
    inspected meanwhile (on the engine it waited for the map)."""
    import threading
    import time

    from cnnscope.core.scan import ScanOptions, scan_folder
    from cnnscope.core.scan import embedding
    from cnnscope.core.shapes import write_shape_folder
    from cnnscope.core.weights import load_model

    data = tmp_path / "shapes"
    write_shape_folder(data, per_class=2, seed=1, size=64)
    scan_folder(load_model("demo_shapes", "pretrained"), data, tmp_path / "scan", ScanOptions(workers=0))
    release = threading.Event()
    real = embedding.embed

    def slow(features, method="pca", seed=0):
        release.wait(30)
        return real(features, method, seed)

    monkeypatch.setattr(embedding, "embed", slow)
    window = make_window()
    qtbot.waitUntil(lambda: window.session.inspection is not None, timeout=WAIT_MS)
    window.dataset.open_scan(str(tmp_path / "scan"))
    qtbot.waitUntil(lambda: window.session.scan is not None, timeout=WAIT_MS)
    started = time.monotonic()
    photo = str(next((data / "moon").iterdir()))
    window.open_path(photo)
    qtbot.waitUntil(lambda: window.session.inspection.source.path == photo, timeout=WAIT_MS)
    assert window.dataset.map.shown_count == 0 and time.monotonic() - started < 25  # the map still waits
    release.set()
    qtbot.waitUntil(lambda: window.dataset.map.shown_count == 6, timeout=WAIT_MS)


def test_the_map_paints_each_dot_in_its_class_colour_without_leaking(qtbot):
    """Each dot is drawn where its point lands, in its class's colour; repainting a large map does
    not drop references to None (PySide6 6.12.0 did on every draw call: the window aborted)."""
    import sys

    from PySide6.QtGui import QColor

    from cnnscope.gui.views.dataset_map import PALETTE, DatasetMapView

    view = DatasetMapView()
    qtbot.addWidget(view)
    view.resize(500, 400)
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(3000, 2)).astype(np.float32)
    classes = [int(i % 3) for i in range(3000)]
    view.set_map(coords, classes, ["a", "b", "c"], [f"/x/{i}.png" for i in range(3000)])
    view.show()
    picture = view.grab().toImage()
    x, y = view._pixels()[-1]  # the last dot is drawn on top of the others
    assert picture.pixelColor(int(round(x)), int(round(y))) == QColor(PALETTE[classes[-1]])
    before = sys.getrefcount(None)
    for _ in range(200):
        view.grab()
    assert sys.getrefcount(None) > before - 100


def test_a_large_scan_is_mapped_from_a_seeded_sample(tmp_path, monkeypatch):
    from cnnscope.core.scan import ScanOptions, scan_folder
    from cnnscope.core.shapes import write_shape_folder
    from cnnscope.core.weights import load_model
    from cnnscope.gui import map_maker

    write_shape_folder(tmp_path / "data", per_class=3, seed=1, size=48)
    scan_folder(load_model("demo_shapes", "pretrained"), tmp_path / "data", tmp_path / "scan", ScanOptions(workers=0))
    monkeypatch.setitem(map_maker.MAX_POINTS, "pca", 5)
    first = map_maker.make_map(str(tmp_path / "scan"), "pca")
    again = map_maker.make_map(str(tmp_path / "scan"), "pca")
    assert first.coords.shape == (5, 2) and first.paths == again.paths
    assert first.note == "5 of the 9 images, chosen at random (seeded)"
