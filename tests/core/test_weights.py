"""Weights: pretrained (cache and download), random, local files, and untrusted files."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from cnnscope.core import weights
from cnnscope.core.checkpoint import make_checkpoint, save_atomic
from cnnscope.core.errors import WeightsError
from cnnscope.core.images import open_image
from cnnscope.core.inspect import inspect
from cnnscope.core.models import get_spec

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


def test_random_weights_are_labelled_untrained():
    loaded = weights.load_model("resnet18", "random")
    assert not loaded.trained and "untrained" in loaded.weights_label
    assert all(not getattr(m, "inplace", False) for m in loaded.module.modules())
    assert not loaded.module.training


def test_bundled_demo_weights_load(demo_model):
    assert demo_model.trained and demo_model.source == "bundled"
    assert demo_model.labels == get_spec("demo_shapes").labels


def test_state_dict_file_round_trip(tmp_path):
    original = weights.load_model("resnet18", "random").module
    with torch.no_grad():
        original.fc.bias.fill_(0.25)
    torch.save(original.state_dict(), tmp_path / "r18.pth")
    loaded = weights.load_model("resnet18", str(tmp_path / "r18.pth"))
    assert loaded.source == "file" and loaded.trained
    assert torch.equal(loaded.module.fc.bias, original.fc.bias)
    assert torch.equal(loaded.module.conv1.weight, original.conv1.weight)


def test_data_parallel_prefix_and_wrapped_state_dicts(tmp_path):
    state = weights.load_model("demo_shapes", "random").module.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3},
               tmp_path / "wrapped.pt")
    loaded = weights.load_model("demo_shapes", str(tmp_path / "wrapped.pt"))
    assert torch.equal(loaded.module.fc.weight, state["fc.weight"])


def test_checkpoint_names_its_architecture_and_classes(tmp_path):
    model = get_spec("demo_shapes").build(num_classes=3)
    ckpt = make_checkpoint("demo_shapes", model.state_dict(), ["arrow", "moon", "diamond"],
                           {"note": Path("x")})  # non-plain meta must still load safely
    save_atomic(ckpt, tmp_path / "c.pt")
    loaded = weights.load_model("resnet50", str(tmp_path / "c.pt"))  # the checkpoint wins
    assert loaded.name == "demo_shapes" and loaded.labels == ("arrow", "moon", "diamond")
    assert loaded.module.fc.out_features == 3 and loaded.meta["note"] == "x"


def test_mismatched_state_dict_lists_missing_unexpected_and_shapes(tmp_path):
    state = weights.load_model("resnet18", "random").module.state_dict()
    del state["layer4.1.bn2.running_var"]
    state["extra.weight"] = torch.zeros(2)
    state["fc.weight"] = torch.zeros(10, 512)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(WeightsError) as err:
        weights.load_model("resnet18", str(tmp_path / "bad.pth"))
    msg = str(err.value)
    assert "bad.pth" in msg and "resnet18" in msg
    assert "1 missing: layer4.1.bn2.running_var" in msg
    assert "1 unexpected: extra.weight" in msg
    assert "fc.weight: file (10, 512) vs model (1000, 512)" in msg


def test_a_bare_state_dict_of_another_architecture_loads_as_that_one(tmp_path):
    demo = weights.load_model("demo_shapes", "pretrained").module.state_dict()
    torch.save(demo, tmp_path / "d.pt")
    loaded = weights.load_model("resnet18", str(tmp_path / "d.pt"))  # the wrong model chosen
    assert loaded.name == "demo_shapes" and loaded.labels == get_spec("demo_shapes").labels
    assert loaded.notes == ["'d.pt' holds demo_shapes weights, not resnet18's: loaded as demo_shapes."]
    assert all(torch.equal(v, demo[k]) for k, v in loaded.module.state_dict().items())


def test_a_bare_state_dict_with_a_retrained_head_gets_numbered_classes(tmp_path):
    torch.manual_seed(0)
    trained = torchvision.models.resnet18(num_classes=10)
    torch.save(trained.state_dict(), tmp_path / "r18-10.pth")
    loaded = weights.load_model("resnet18", str(tmp_path / "r18-10.pth"))
    assert loaded.name == "resnet18" and loaded.module.fc.out_features == 10
    assert loaded.labels == tuple(f"class {i}" for i in range(10))
    assert "10-class head" in loaded.notes[0]
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), trained.eval()(x), atol=1e-5)


class _Evil:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"fc.weight": torch.zeros(1), "payload": _Evil(marker)}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="evil.pth.*refused.*run code"):
        weights.load_model("resnet18", str(tmp_path / "evil.pth"))
    assert not marker.exists()
    # The payload is real: an unrestricted load would have run it.
    torch.load(tmp_path / "evil.pth", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a torch file at all", b"PK\x03\x04broken zip"])
def test_unreadable_weights_file(tmp_path, content):
    (tmp_path / "w.pth").write_bytes(content)
    with pytest.raises(WeightsError, match="w.pth"):
        weights.load_model("resnet18", str(tmp_path / "w.pth"))


def test_missing_weights_file():
    with pytest.raises(WeightsError, match="does not exist"):
        weights.load_model("resnet18", "/no/such/file.pth")


def test_tensor_that_is_not_a_state_dict(tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pth")
    with pytest.raises(WeightsError, match="does not hold a state_dict"):
        weights.load_model("resnet18", str(tmp_path / "t.pth"))


# --- pretrained: the torchvision cache and downloads ---------------------------------------


def test_offline_pretrained_gives_an_actionable_error(isolated_torch_home, no_network):
    with pytest.raises(WeightsError) as err:
        weights.load_model("resnet18", "pretrained")
    msg = str(err.value)
    assert "resnet18" in msg and "network is unreachable" in msg
    assert "local weights file" in msg and "untrained" in msg
    assert no_network and not list((isolated_torch_home / "hub" / "checkpoints").glob("*"))


def test_cached_pretrained_weights_need_no_network(isolated_torch_home, no_network, mobilenet_file):
    spec = get_spec("mobilenet_v2")
    assert not weights.is_available_offline(spec)
    target = weights.cached_file(spec)
    target.parent.mkdir(parents=True)
    shutil.copy(mobilenet_file, target)
    assert weights.is_available_offline(spec)
    loaded = weights.load_model("mobilenet_v2", "pretrained")
    assert no_network == []  # urlopen was never called
    assert loaded.source == "pretrained" and "IMAGENET1K_V1" in loaded.weights_label
    top = inspect(loaded, open_image(SAMPLES / "coffee.jpg")).predictions[0]
    assert top.label == "espresso" and top.probability > 0.9


def test_real_weights_from_local_files_predict_real_classes(mobilenet_file, squeezenet_file):
    coffee = open_image(SAMPLES / "coffee.jpg")
    cat = open_image(SAMPLES / "chelsea.png")
    mobilenet = weights.load_model("mobilenet_v2", str(mobilenet_file))
    squeezenet = weights.load_model("squeezenet1_1", str(squeezenet_file))
    for loaded in (mobilenet, squeezenet):
        top = inspect(loaded, coffee).predictions[0]
        assert top.label == "espresso" and top.probability > 0.9
    assert inspect(mobilenet, cat).predictions[0].label == "Egyptian cat"
    assert {p.label for p in inspect(squeezenet, cat).predictions[:2]} >= {"tiger cat"}


@pytest.fixture
def file_server(tmp_path):
    """A local HTTP server over tmp_path/'srv'; yields (base_url, folder)."""
    folder = tmp_path / "srv"
    folder.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)  # fast shutdown
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()


def _publish(folder: Path, payload: bytes, stem: str = "model") -> str:
    name = f"{stem}-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    (folder / name).write_bytes(payload)
    return name


def test_download_reports_progress_and_lands_atomically(file_server, tmp_path):
    base, folder = file_server
    payload = np.random.default_rng(0).bytes(300_000)
    name = _publish(folder, payload)
    seen = []
    dest = weights.download(f"{base}/{name}", tmp_path / "cache" / name,
                            progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == payload
    assert seen[0] == (0, len(payload)) and seen[-1] == (len(payload), len(payload))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 3
    assert [p.name for p in dest.parent.iterdir()] == [name]  # no partial files left


def test_download_with_wrong_checksum_is_discarded(file_server, tmp_path):
    base, folder = file_server
    (folder / "model-deadbeef.pth").write_bytes(b"tampered content")
    with pytest.raises(WeightsError, match="corrupt"):
        weights.download(f"{base}/model-deadbeef.pth", tmp_path / "c" / "model-deadbeef.pth")
    assert list((tmp_path / "c").iterdir()) == []


def test_download_can_be_cancelled(file_server, tmp_path):
    base, folder = file_server
    name = _publish(folder, bytes(1_000_000))
    calls = []

    def cancel_after_two_chunks() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(weights.DownloadCancelled):
        weights.download(f"{base}/{name}", tmp_path / "c" / name, should_cancel=cancel_after_two_chunks)
    assert list((tmp_path / "c").iterdir()) == []


def test_download_from_a_closed_port_fails_cleanly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="Could not download"):
        weights.download(f"http://127.0.0.1:{port}/m-00000000.pth", tmp_path / "m-00000000.pth",
                         timeout=5)


def test_pretrained_download_goes_through_the_cache(isolated_torch_home, file_server, monkeypatch):
    """The real pretrained path, with the weights URL pointed at a local server."""
    base, folder = file_server
    state = get_spec("squeezenet1_1").build().state_dict()
    buf = folder / "tmp.pth"
    torch.save(state, buf)
    name = _publish(folder, buf.read_bytes(), "squeezenet1_1")
    spec = get_spec("squeezenet1_1")
    monkeypatch.setattr(type(spec.weights), "url", property(lambda self: f"{base}/{name}"))
    progress = []
    loaded = weights.load_model("squeezenet1_1", "pretrained", progress=lambda d, t: progress.append(d))
    assert progress and progress[-1] == buf.stat().st_size
    assert (isolated_torch_home / "hub" / "checkpoints" / name).is_file()
    assert torch.equal(loaded.module.classifier[1].weight, state["classifier.1.weight"])
    (folder / name).unlink()  # a second load must come from the cache alone
    weights.load_model("squeezenet1_1", "pretrained")


def test_untrained_models_are_reproducible_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = weights.load_model("demo_shapes", "random").module
    b = weights.load_model("demo_shapes", "random").module
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert torch.equal(torch.rand(3), expected_next)
