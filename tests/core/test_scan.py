"""Dataset scans: the running top-k equals a brute-force pass over every image, a scan stopped by
a crash continues to the same result, unreadable files are skipped and listed, a scan of
something else is never mixed in, and a unit's crop is cut from the right place of the photo."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnscope.core.errors import ScanError
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.scan import ScanOptions, open_scan, scan_folder
from cnnscope.core.scan.topk import TopK

LAYERS = ("features.block2.relu", "features.block4.conv2")


def _brute_force(loaded, root, entries, layer, k):
    """Every image inspected alone: each channel's peak and where, then the k best per channel
    (ties: the lower index first), without any of the scan's code."""
    values, positions, indices = [], [], []
    for index, entry in enumerate(entries):
        try:
            photo = open_image(root / entry.path)
        except Exception:  # noqa: BLE001 - the unreadable ones are not candidates
            continue
        maps = inspect(loaded, photo).activation(layer)  # (C, H, W)
        flat = maps.reshape(maps.shape[0], -1)
        values.append(flat.max(axis=1))
        positions.append(flat.argmax(axis=1))
        indices.append(index)
    values, positions = np.array(values), np.array(positions)  # (n, C)
    best_images, best_positions, best_values = [], [], []
    for channel in range(values.shape[1]):
        order = sorted(range(len(indices)), key=lambda i: (-values[i, channel], indices[i]))[:k]
        best_images.append([indices[i] for i in order])
        best_positions.append([positions[i, channel] for i in order])
        best_values.append([values[i, channel] for i in order])
    return np.array(best_images).T, np.array(best_positions).T, np.array(best_values).T


def test_the_top_k_equals_a_brute_force_pass_over_every_image(demo_model, folder, tmp_path):
    summary = scan_folder(demo_model, folder, tmp_path / "scan", ScanOptions(LAYERS, top_k=4, batch_size=4, workers=0))
    scan = open_scan(tmp_path / "scan")
    assert summary.complete and summary.total == 17 and summary.scanned == 15
    for layer in LAYERS:
        images, positions, values = _brute_force(demo_model, folder, scan.entries, layer, 4)
        topk = scan.topk(layer)
        np.testing.assert_array_equal(topk.images, images)
        np.testing.assert_array_equal(topk.positions, positions)
        np.testing.assert_allclose(topk.values, values, rtol=1e-4, atol=1e-5)
    # the pooled features and the predictions of each image are those of its own inspection
    first = open_image(folder / scan.entries[0].path)
    alone = inspect(demo_model, first)
    np.testing.assert_allclose(scan.features[0], alone.activation("avgpool").reshape(-1), rtol=1e-4, atol=1e-5)
    assert demo_model.labels[scan.top5[0][0]] == alone.predictions[0].label


def test_unreadable_files_are_skipped_and_listed(demo_model, folder, tmp_path):
    summary = scan_folder(demo_model, folder, tmp_path / "scan", ScanOptions(LAYERS[:1], workers=0))
    skipped = dict(summary.skipped)
    assert set(skipped) == {"arrow/broken.png", "notes.jpg"}  # hidden files are not images of the folder
    assert "not an image" in skipped["notes.jpg"]
    rows = (tmp_path / "scan" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 1 + 17
    assert sorted(r.split(",")[1] for r in rows if "not an image" in r) == ["arrow/broken.png", "notes.jpg"]


def test_a_scan_stopped_by_a_crash_continues_to_the_same_result(demo_model, folder, tmp_path):
    """A crash mid-run (here: the third batch's forward pass fails) loses at most that batch; the
    same call again continues and ends where an uninterrupted scan ends."""
    options = ScanOptions(LAYERS, top_k=3, batch_size=3, workers=0)
    scan_folder(demo_model, folder, tmp_path / "whole", options)
    calls = {"n": 0}

    def crash_on_third(_module, _inputs) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the machine went down")

    handle = demo_model.module.features.register_forward_pre_hook(crash_on_third)
    try:
        with pytest.raises(RuntimeError, match="went down"):
            scan_folder(demo_model, folder, tmp_path / "resumed", options)
    finally:
        handle.remove()
    partial = open_scan(tmp_path / "resumed")
    assert 0 < int((partial.state.status != 0).sum()) < 17 and not partial.complete
    summary = scan_folder(demo_model, folder, tmp_path / "resumed", options)
    assert summary.complete and summary.resumed_from == int((partial.state.status != 0).sum())
    whole, resumed = open_scan(tmp_path / "whole"), open_scan(tmp_path / "resumed")
    np.testing.assert_array_equal(resumed.state.status, whole.state.status)
    for layer in LAYERS:
        np.testing.assert_array_equal(resumed.topk(layer).images, whole.topk(layer).images)
        np.testing.assert_array_equal(resumed.topk(layer).positions, whole.topk(layer).positions)
        np.testing.assert_allclose(resumed.topk(layer).values, whole.topk(layer).values, rtol=1e-5)
    scanned = whole.scanned
    np.testing.assert_allclose(resumed.features[scanned], whole.features[scanned], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(resumed.top5[scanned], whole.top5[scanned])


def test_a_scan_of_something_else_is_never_continued(demo_model, folder, tmp_path):
    out = tmp_path / "scan"
    scan_folder(demo_model, folder, out, ScanOptions(LAYERS[:1], workers=0))
    with pytest.raises(ScanError, match="holds a scan of another layers"):
        scan_folder(demo_model, folder, out, ScanOptions(LAYERS, workers=0))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("not a scan")
    with pytest.raises(ScanError, match="a folder of other files"):
        scan_folder(demo_model, folder, tmp_path / "other", ScanOptions(LAYERS[:1], workers=0))
    with pytest.raises(ScanError, match="not a layer of demo_shapes with feature maps"):
        scan_folder(demo_model, folder, tmp_path / "x", ScanOptions(("fc",), workers=0))
    with pytest.raises(ScanError, match="holds no image files"):
        scan_folder(demo_model, tmp_path / "other", tmp_path / "y", ScanOptions(workers=0))


def test_merging_per_worker_top_k_is_exact_whatever_the_split():
    """What a cluster's workers keep merges into exactly the top-k of one pass, ties included."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 6, size=(40, 7)).astype(np.float32)  # many ties
    positions = rng.integers(0, 50, size=(40, 7))
    one = TopK.empty(5, 7, 5, 10)
    one.add(values, np.arange(40), positions)
    for split in ([0, 13, 27, 40], [0, 1, 39, 40], [0, 40]):
        merged = TopK.empty(5, 7, 5, 10)
        for start, stop in reversed(list(zip(split, split[1:]))):  # workers finish in any order
            part = TopK.empty(5, 7, 5, 10)
            part.add(values[start:stop], np.arange(start, stop), positions[start:stop])
            merged.merge(part)
        np.testing.assert_array_equal(merged.images, one.images)
        np.testing.assert_array_equal(merged.positions, one.positions)
    expected = sorted(range(40), key=lambda i: (-values[i, 0], i))[:5]
    assert list(one.images[:, 0]) == expected


def test_a_units_crop_is_cut_from_where_the_crop_sat_in_the_photo(demo_model, folder, tmp_path):
    """A 96 px crop of a 200 x 100 photo: the model saw columns 50..149 of it (after resizing to
    96 px high), so the whole field of a map position maps back to that square."""
    from PIL import Image

    from cnnscope.core.scan.results import UnitHit

    wide = tmp_path / "wide"
    wide.mkdir()
    photo = np.zeros((100, 200, 3), np.uint8)
    photo[:, 50:150] = 255  # the part the model sees is white, the rest black
    Image.fromarray(photo).save(wide / "wide.png")
    scan_folder(demo_model, wide, tmp_path / "scan", ScanOptions(("features.block4.conv2",), workers=0))
    scan = open_scan(tmp_path / "scan")
    scan.info["layers"]["features.block4.conv2"]["field"] = {"whole": True}
    assert scan.field_box("features.block4.conv2", 0, 0, (100, 200)) == (0, 50, 99, 149)
    hit = UnitHit(0, 0, "wide.png", "", 1.0, 0, 0)
    crop = scan.crop("features.block4.conv2", hit, size=32)
    assert crop.shape == (32, 32, 3) and crop.min() > 200  # white only: nothing from outside


def test_the_scan_decodes_in_worker_processes_or_threads_with_the_same_result(demo_model, folder, tmp_path):
    """DataLoader worker processes (forked: a caller's script is never run again in them) or, for
    the window, a pool of threads decode the images; the scan is the same."""
    scan_folder(demo_model, folder, tmp_path / "a", ScanOptions(LAYERS[:1], batch_size=8, workers=0))
    scan_folder(demo_model, folder, tmp_path / "b", ScanOptions(LAYERS[:1], batch_size=8, workers=1))
    scan_folder(demo_model, folder, tmp_path / "c", ScanOptions(LAYERS[:1], batch_size=5, workers=2,
                                                                decoders="threads"))
    a = open_scan(tmp_path / "a")
    for other in (open_scan(tmp_path / "b"), open_scan(tmp_path / "c")):
        np.testing.assert_array_equal(a.topk(LAYERS[0]).images, other.topk(LAYERS[0]).images)
        np.testing.assert_array_equal(a.state.status, other.state.status)
        assert torch.equal(torch.from_numpy(np.array(a.top5)), torch.from_numpy(np.array(other.top5)))


def test_decoding_threads_keep_the_order_and_stop_early():
    from cnnscope.core.scan.run import threaded_batches

    class Items(torch.utils.data.Dataset):
        def __len__(self):
            return 11

        def __getitem__(self, i):
            return i, torch.full((1, 2, 2), i, dtype=torch.uint8), ""

    batches = list(threaded_batches(Items(), 4, threads=3))
    assert [indices for indices, _crops, _bad in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10]]
    assert batches[2][1][:, 0, 0, 0].tolist() == [8, 9, 10]
    first = next(iter(threaded_batches(Items(), 4, threads=2)))  # left early: nothing hangs
    assert first[0] == [0, 1, 2, 3]


def test_a_scan_with_a_cam_method_writes_a_heatmap_per_image(demo_model, tmp_path):
    """The batch job: an overlay per scanned image, named after it, beside the predictions CSV;
    an unknown method is refused before anything is scanned."""
    from cnnscope.core.shapes import write_shape_folder

    data = tmp_path / "few"
    write_shape_folder(data, per_class=1, seed=3, size=64)
    summary = scan_folder(demo_model, data, tmp_path / "scan", ScanOptions(cam="gradcam", workers=0))
    written = sorted(p.name for p in (tmp_path / "scan" / "heatmaps").iterdir())
    assert summary.scanned == 3 and written == ["000000_arrow_000.png", "000001_diamond_000.png",
                                                "000002_moon_000.png"]
    picture = open_image(tmp_path / "scan" / "heatmaps" / written[0])
    assert picture.shape == (96, 96, 3)  # over the 96 px crop the demo model saw
    with pytest.raises(ScanError, match="Unknown heatmap method 'nope'"):
        scan_folder(demo_model, data, tmp_path / "other", ScanOptions(cam="nope", workers=0))
    assert not (tmp_path / "other").exists()


def test_a_scan_is_not_continued_with_another_normalisation_and_never_lists_itself(user_file, tmp_path):
    """Review findings: a scan stopped with one mean/std went on with another, silently; a scan
    kept inside the folder it scans listed its own heatmaps the second time."""
    from cnnscope.core.shapes import write_shape_folder
    from cnnscope.core.user_models import ModelHints
    from cnnscope.core.weights import load_model

    data = tmp_path / "data"
    write_shape_folder(data, per_class=2, seed=1, size=48)
    first = load_model(f"{user_file}:build", "random", hints=ModelHints.checked(input_size=32, mean=(0.4,), std=(0.2,)))
    other = load_model(f"{user_file}:build", "random", hints=ModelHints.checked(input_size=32, mean=(0.9,), std=(0.05,)))
    options = ScanOptions(("body.4",), workers=0, model_ref=f"{user_file}:build", weights_ref="random")
    scan_folder(first, data, tmp_path / "scan", options)
    with pytest.raises(ScanError, match="another input size or normalisation"):
        scan_folder(other, data, tmp_path / "scan", options)

    inside = data / "scan-here"
    for _ in range(2):
        summary = scan_folder(first, data, inside, ScanOptions(("body.4",), workers=0, cam="gradcam"))
    assert summary.total == 6 and summary.complete
