"""timm's pretrained weights through cnnscope's own download: progress, cancel, cache, a quick
clear failure offline, the file read as data, the model the same as timm's own."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

from cnnscope.core import timm_weights  # noqa: E402
from cnnscope.core.errors import WeightsError  # noqa: E402
from cnnscope.core.user_models import load_user_model  # noqa: E402
from cnnscope.core.weights import DownloadCancelled  # noqa: E402

# the smallest CNN timm has pretrained weights for (timm's own test models, ~0.5 M parameters)
MODEL = next((n for n in ("test_resnet", "resnet10t") if n in timm.list_models()), None)
pytestmark = pytest.mark.skipif(MODEL is None, reason="this timm has no small test model")


class Server:
    """A local stand-in for the Hugging Face Hub: files under a folder, requests counted."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.requests = folder, []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(folder), **kw)

            def do_GET(self):
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *a):
                pass

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def publish(self, name: str, filename: str, write) -> Path:
        """Put a file where the Hub has ``name``'s ``filename``; ``write(path)`` writes it."""
        repo = timm.models.get_pretrained_cfg(name).hf_hub_id
        path = self.folder / repo / "resolve" / "main" / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        return path


@pytest.fixture
def hub(tmp_path, monkeypatch, isolated_torch_home):
    """The Hub at a local server; empty caches; timm's own downloaders made to fail loudly."""
    import huggingface_hub.constants

    folder = tmp_path / "hub"
    folder.mkdir()
    server = Server(folder)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf_cache"))

    def never(*_a, **_kw):
        raise AssertionError("timm downloaded by itself")

    import timm.models._builder as builder

    for fn in ("load_state_dict_from_hf", "load_state_dict_from_url", "download_cached_file",
               "load_custom_from_hf"):
        monkeypatch.setattr(builder, fn, never, raising=False)
    yield server
    server.http.shutdown()
    server.http.server_close()


def _trained_state(name: str = MODEL) -> dict[str, torch.Tensor]:
    """Weights unlike the ones a fresh model gets (another seed), as a pretrained file holds."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        model = timm.create_model(name)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.01)
    return {k: v.clone().contiguous() for k, v in model.state_dict().items()}


def _cached_files(home: Path) -> list[Path]:
    root = home / "hub" / "checkpoints" / "timm"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_pretrained_weights_come_through_our_download_then_the_cache(hub, isolated_torch_home):
    state = _trained_state()
    served = hub.publish(MODEL, "model.safetensors", lambda p: safetensors_torch.save_file(state, str(p)))
    seen = []
    loaded = load_user_model(f"timm:{MODEL}", "pretrained", progress=lambda d, t: seen.append((d, t)))
    assert loaded.trained and loaded.source == "pretrained"
    own = loaded.module.state_dict()
    assert all(torch.equal(own[k], v) for k, v in state.items()) and set(own) == set(state)
    size = served.stat().st_size
    assert seen[0] == (0, size) and seen[-1] == (size, size)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert [Path(r).name for r in hub.requests] == ["model.safetensors"]
    assert [p.name for p in _cached_files(isolated_torch_home)] == ["model.safetensors"]
    assert "state_dict" not in loaded.module.pretrained_cfg  # the tensors are not kept twice
    served.unlink()  # a second load comes from the cache alone, without a request
    again = timm_weights.create_pretrained(MODEL)
    assert len(hub.requests) == 1
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())


def test_the_model_is_the_one_timm_makes_of_the_same_file(hub, tmp_path):
    """timm's checkpoint filter still applies: a ViT's position embedding for another grid is
    resampled exactly as timm's own loading of the file resamples it."""
    name = "test_vit"
    if name not in timm.list_models():
        pytest.skip("this timm has no test_vit")
    state = _trained_state(name)
    pos = state["pos_embed"]  # (1, 1 + 10 x 10, dim) at 160 px: served for an 8 x 8 grid
    state["pos_embed"] = torch.cat([pos[:, :1], pos[:, 1:65]], dim=1).contiguous()
    served = hub.publish(name, "model.safetensors", lambda p: safetensors_torch.save_file(state, str(p)))
    ours = timm_weights.create_pretrained(name)
    theirs = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(served)))
    assert ours.pos_embed.shape == pos.shape
    a, b = ours.state_dict(), theirs.state_dict()
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert ours.pretrained_cfg == timm.create_model(name).pretrained_cfg


def test_a_repository_without_safetensors_gives_its_pytorch_file(hub):
    state = _trained_state()
    hub.publish(MODEL, "pytorch_model.bin", lambda p: torch.save(state, p))
    module = timm_weights.create_pretrained(MODEL)
    assert all(torch.equal(module.state_dict()[k], v) for k, v in state.items())
    assert [Path(r).name for r in hub.requests] == ["model.safetensors", "pytorch_model.bin"]


def test_a_repository_with_no_weights_says_so(hub):
    with pytest.raises(WeightsError, match=f"no pretrained weights file for {MODEL} "
                                           r"\(model.safetensors, pytorch_model.bin not found"):
        timm_weights.create_pretrained(MODEL)


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused_unrun_and_not_kept(hub, tmp_path, isolated_torch_home):
    marker = tmp_path / "pwned"
    hub.publish(MODEL, "pytorch_model.bin",
                lambda p: torch.save({"fc.weight": torch.zeros(1), "x": _Evil(marker)}, p))
    with pytest.raises(WeightsError, match="pytorch_model.bin.*refused.*run code"):
        timm_weights.create_pretrained(MODEL)
    assert not marker.exists() and _cached_files(isolated_torch_home) == []


def test_cancel_stops_the_download_and_leaves_nothing(hub, isolated_torch_home):
    hub.publish(MODEL, "model.safetensors",
                lambda p: safetensors_torch.save_file(_trained_state(), str(p)))
    calls = []
    with pytest.raises(DownloadCancelled):
        load_user_model(f"timm:{MODEL}", "pretrained", should_cancel=lambda: calls.append(1) or len(calls) > 2)
    assert _cached_files(isolated_torch_home) == []


def test_offline_fails_at_once_with_one_sentence(hub, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:
        load_user_model(f"timm:{MODEL}", "pretrained")
    assert time.monotonic() - start < 3
    message = str(err.value)
    assert message.startswith(f"Could not download the pretrained weights of {MODEL} from "
                              f"127.0.0.1:{port} (")
    assert message.endswith("): check the internet connection, or use random weights or a weights file.")
    assert message.count(". ") == 0  # one sentence
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # said offline: not even tried
    with pytest.raises(WeightsError, match=r"\(HF_HUB_OFFLINE is set\): check the internet"):
        timm_weights.create_pretrained(MODEL)


def test_weights_in_huggingface_hubs_own_cache_need_no_network(hub, tmp_path):
    """Weights timm downloaded before (huggingface_hub's cache) are used as they are."""
    repo = timm.models.get_pretrained_cfg(MODEL).hf_hub_id
    snapshot = tmp_path / "hf_cache" / f"models--{repo.replace('/', '--')}"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("abc123")
    (snapshot / "snapshots" / "abc123").mkdir(parents=True)
    state = _trained_state()
    safetensors_torch.save_file(state, str(snapshot / "snapshots" / "abc123" / "model.safetensors"))
    module = timm_weights.create_pretrained(MODEL)
    assert hub.requests == []
    assert all(torch.equal(module.state_dict()[k], v) for k, v in state.items())


def test_where_the_weights_come_from(monkeypatch, isolated_torch_home):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    cfg = timm_weights.pretrained_cfg(MODEL)
    repo = cfg["hf_hub_id"]
    source = timm_weights.weights_source(MODEL, cfg)
    assert source.host == "huggingface.co"
    assert [u for u, _ in source.candidates] == [
        f"https://huggingface.co/{repo}/resolve/main/model.safetensors",
        f"https://huggingface.co/{repo}/resolve/main/pytorch_model.bin"]
    folder = isolated_torch_home / "hub" / "checkpoints" / "timm" / repo.replace("/", "--")
    assert [p for _, p in source.candidates] == [folder / "model.safetensors", folder / "pytorch_model.bin"]
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    pinned = timm_weights.weights_source("x", {"hf_hub_id": "org/m@v1.0", "hf_hub_filename": "w.safetensors"})
    assert [u for u, _ in pinned.candidates] == ["https://mirror.example/org/m/resolve/v1.0/w.safetensors"]
    url = timm_weights.weights_source("x", {"url": "https://example.org/a/net-0123abcd.pth"})
    assert url.candidates[0][1].name == "net-0123abcd.pth"
    # nothing in a name escapes the cache folder
    root = (isolated_torch_home / "hub" / "checkpoints" / "timm").resolve()
    for cfg in ({"hf_hub_id": "../../..", "hf_hub_filename": "../../evil.safetensors"},
                {"hf_hub_id": "/etc/x", "hf_hub_filename": "/etc/passwd"},
                {"url": "https://example.org/%2e%2e/..%2f..%2fx.pth"}):
        for _url, path in timm_weights.weights_source("x", cfg).candidates:
            assert path.resolve().parent.is_relative_to(root) and path.resolve() != root
    with pytest.raises(WeightsError, match="own code"):
        timm_weights.weights_source("x", {"url": "https://example.org/w.npz", "custom_load": True})
    with pytest.raises(WeightsError, match="no pretrained weights for x"):
        timm_weights.weights_source("x", {"num_classes": 10})
