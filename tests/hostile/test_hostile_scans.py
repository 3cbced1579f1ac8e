"""A scan folder is data a user may hand over (the window's Open scan, ``cnnscope scan --show``):
a damaged or crafted one is one sentence, never a traceback, a huge allocation or a path outside
the scanned folder. A file name that is not UTF-8 is scanned like any other."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest

from cnnscope.cli import main
from cnnscope.core.errors import ScanError
from cnnscope.core.scan import ScanOptions, open_scan, scan_folder


@pytest.fixture(scope="module")
def good_scan(tmp_path_factory, demo_model):
    from cnnscope.core.shapes import write_shape_folder

    root = tmp_path_factory.mktemp("hostile-scan")
    write_shape_folder(root / "data", per_class=1, seed=2, size=48)
    scan_folder(demo_model, root / "data", root / "scan", ScanOptions(("features.block2.relu",), top_k=2, workers=0))
    return root / "scan"


def _copy(good_scan, tmp_path):
    target = tmp_path / "scan"
    shutil.copytree(good_scan, target)
    return target


def _edit_info(scan, change) -> None:
    info = json.loads((scan / "scan.json").read_text())
    change(info)
    (scan / "scan.json").write_text(json.dumps(info))


def _rewrite_state(scan, change) -> None:
    with np.load(scan / "state.npz") as arrays:
        values = {k: np.array(arrays[k]) for k in arrays.files}
    change(values)
    np.savez(scan / "state.npz", **values)


def _bomb(scan) -> None:
    """A state.npz whose 'status' header claims 10^11 numbers in a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|i1", "fortran_order": False,
                                                  "shape": (10**11,)})
    with zipfile.ZipFile(scan / "state.npz", "w") as archive:
        archive.writestr("status.npy", b"\x93NUMPY\x01\x00" + header.getvalue())


DAMAGES = {
    "state.npz is not a zip": lambda s: (s / "state.npz").write_bytes(b"not a zip at all"),
    "a top image past the listing": lambda s: _rewrite_state(
        s, lambda v: v["features.block2.relu|images"].__setitem__((0, 0), 10_000)),
    "a peak outside the map": lambda s: _rewrite_state(
        s, lambda v: v["features.block2.relu|positions"].__setitem__((0, 0), 10**6)),
    "an allocation bomb": _bomb,
    "a short images.csv row": lambda s: (s / "images.csv").write_text("index,path,class\n0\n"),
    "a path leaving the folder": lambda s: (s / "images.csv").write_text("index,path,class\n0,../../etc/passwd,\n"),
    "no preprocessing": lambda s: _edit_info(s, lambda i: i.pop("preprocessing")),
    "a zero resize": lambda s: _edit_info(s, lambda i: i["preprocessing"].__setitem__("resize", 0)),
    "layers as a list": lambda s: _edit_info(s, lambda i: i.__setitem__("layers", ["features.block2.relu"])),
    "a layer as text": lambda s: _edit_info(s, lambda i: i["layers"].__setitem__("features.block2.relu", "x")),
    "a field as a list": lambda s: _edit_info(s, lambda i: i["layers"]["features.block2.relu"].__setitem__("field", [1])),
    "data as a number": lambda s: _edit_info(s, lambda i: i.__setitem__("data", 7)),
    "a map of no size": lambda s: _rewrite_state(
        s, lambda v: v.__setitem__("features.block2.relu|map_size", np.array([0, 0]))),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_scan_is_one_sentence(good_scan, tmp_path, damage, capsys):
    scan = _copy(good_scan, tmp_path)
    DAMAGES[damage](scan)
    with pytest.raises(ScanError, match="damaged scan|not a cnnscope scan|not a readable"):
        found = open_scan(scan)
        found.unit("features.block2.relu", 0)
        found.crop("features.block2.relu", found.unit("features.block2.relu", 0)[0])
    assert main(["scan", "--show", str(scan), "--layer", "features.block2.relu", "--channel", "0",
                 "--out", str(tmp_path / "u.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unexpected" not in err and "Traceback" not in err


def test_a_file_name_that_is_not_utf8_is_scanned(demo_model, tmp_path):
    """The listing is written with the name's bytes kept (it raised UnicodeEncodeError)."""
    from PIL import Image

    data = tmp_path / "odd"
    data.mkdir()
    name = os.fsdecode(b"\xffodd.png")
    Image.new("RGB", (40, 40), (200, 30, 30)).save(data / name)
    Image.new("RGB", (40, 40), (30, 30, 200)).save(data / "plain.png")
    summary = scan_folder(demo_model, data, tmp_path / "scan", ScanOptions(workers=0))
    assert summary.complete and summary.scanned == 2
    assert name in [entry.path for entry in open_scan(tmp_path / "scan").entries]
