"""GUI tests drive the real main window offscreen, with a real engine thread."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402

WAIT_MS = 60_000  # generous: CI machines are small


@pytest.fixture
def make_window(qtbot, tmp_path):
    """Factory: a shown MainWindow with its own settings file, closed after the test."""
    from cnnscope.gui.engine import Engine
    from cnnscope.gui.main_window import MainWindow

    windows = []

    def make(image: str | None = None, settings_file: str = "settings.ini"):
        settings = QSettings(str(tmp_path / settings_file), QSettings.Format.IniFormat)
        window = MainWindow(Engine(), image, settings)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def engine(qtbot):
    """A started engine with no window around it (panels and the queue are tested on it)."""
    from cnnscope.gui.engine import Engine

    engine = Engine()
    with qtbot.waitSignal(engine.ready, timeout=WAIT_MS):
        engine.start()
    yield engine
    engine.stop()


@pytest.fixture
def ask(qtbot, engine):
    """ask(request, kind): submit ``request`` to the started engine and wait for its result of
    type ``kind`` (panels are tested on a bare engine this way)."""
    def answer(request, kind):
        with qtbot.waitSignal(engine.finished, timeout=WAIT_MS,
                              check_params_cb=lambda _id, result: isinstance(result, kind)) as found:
            engine.submit(request)
        return found.args[1]
    return answer


@pytest.fixture
def window(make_window, qtbot):
    """A window that has inspected its first image."""
    w = make_window()
    qtbot.waitUntil(lambda: w.features.grid.array is not None, timeout=WAIT_MS)
    return w


@pytest.fixture
def slow_squeezenet_download(monkeypatch):
    """SqueezeNet's "pretrained" URL pointed at a local server that sends 4 MB slowly (about 3 s),
    so a test can watch the progress and cancel."""
    import hashlib
    import http.server
    import threading
    import time

    from cnnscope.core.models import get_spec

    payload = bytes(4_000_000)
    name = f"squeezenet1_1-{hashlib.sha256(payload).hexdigest()[:8]}.pth"

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                for i in range(0, len(payload), 65536):
                    self.wfile.write(payload[i:i + 65536])
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()  # fast shutdown
    url = f"http://127.0.0.1:{server.server_address[1]}/{name}"
    monkeypatch.setattr(type(get_spec("squeezenet1_1").weights), "url", property(lambda self: url))
    yield url
    server.shutdown()
    server.server_close()
