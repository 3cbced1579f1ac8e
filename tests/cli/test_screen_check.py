"""Without a display, or without Qt's X11 libraries, `cnnscope` says so in one message and exits 1
instead of letting Qt abort the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cnnscope.gui.screen_check import display_problem, missing_libraries, platform_plugin

QT = Path("/nonexistent/Qt")


def _nothing_missing(_files):
    return []


def _answers(_display):
    return True


def test_no_display_at_all_names_the_headless_commands():
    message = display_problem({}, "linux", _nothing_missing, QT)
    assert "needs a screen" in message and "cnnscope render" in message and "xvfb-run" in message


def test_missing_x11_libraries_are_named_with_the_apt_line():
    asked: list = []

    def missing(files):
        asked.extend(files)
        return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libunheard.so.7"]
    message = display_problem({"DISPLAY": "remote:0"}, "linux", missing, QT, _answers)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1 and the packages that provide " \
        "libunheard.so.7 (apt-file" in message
    assert QT / "plugins/platforms/libqxcb.so" in asked and QT / "lib/libQt6Gui.so.6" in asked


def test_a_display_with_everything_present_or_a_chosen_platform_passes():
    assert display_problem({"DISPLAY": "remote:0"}, "linux", _nothing_missing, QT, _answers) is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", _nothing_missing, QT) is None
    assert display_problem({}, "win32", _nothing_missing, QT) is None
    assert platform_plugin({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}) == "wayland"


def test_a_display_nobody_listens_at_is_said():
    message = display_problem({"DISPLAY": ":97"}, "linux", _nothing_missing, QT, lambda _d: False)
    assert "no X server answers at DISPLAY=:97" in message


def test_ldd_really_reads_a_library(tmp_path):
    """On this machine's own Python binary: nothing is missing (a real ldd run, not a stub)."""
    assert missing_libraries([Path(sys.executable), tmp_path / "absent.so"]) == []


def test_the_command_exits_1_with_one_line_and_no_traceback():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "cnnscope"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("cnnscope: The window needs a screen")


def test_the_readme_lists_every_package_the_check_may_ask_for():
    """The message points to the README's apt lines: they must hold every package it can name."""
    from cnnscope.gui.screen_check import PACKAGES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    lines = " ".join(line for line in readme.splitlines() if "apt install" in line or
                     line.startswith("    lib"))
    listed = set(lines.replace("\\\\", " ").split())
    assert set(PACKAGES.values()) <= listed, set(PACKAGES.values()) - listed


def test_what_answers_at_a_display_is_really_asked(tmp_path, monkeypatch):
    """A Unix socket that listens, one that does not, a TCP display nobody serves, and a DISPLAY
    that is not a display name at all."""
    import socket
    import tempfile

    from cnnscope.gui import screen_check

    folder = Path(tempfile.mkdtemp(dir="/tmp"))
    listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listening.bind(str(folder / "X7"))
    listening.listen(1)
    real_socket = socket.socket

    class Redirected(real_socket):  # /tmp/.X11-unix/X7 -> our folder's X7
        def connect(self, address):
            if isinstance(address, str) and address.endswith("/tmp/.X11-unix/X7"):
                address = str(folder / "X7")
            return super().connect(address)
    monkeypatch.setattr(screen_check.socket, "socket", Redirected)
    try:
        assert screen_check.x_server_answers(":7") and screen_check.x_server_answers("unix:7.0")
        assert not screen_check.x_server_answers(":8")
        with real_socket() as free:  # a local TCP port nobody listens on: 6000 + N
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        if port > 6000:
            assert not screen_check.x_server_answers(f"127.0.0.1:{port - 6000}")
        assert not screen_check.x_server_answers("not a display")
    finally:
        listening.close()
