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


def test_no_display_at_all_names_the_headless_commands():
    message = display_problem({}, "linux", _nothing_missing, QT)
    assert "needs a screen" in message and "cnnscope render" in message and "xvfb-run" in message


def test_missing_x11_libraries_are_named_with_the_apt_line():
    asked: list = []

    def missing(files):
        asked.extend(files)
        return ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libunheard.so.7"]
    message = display_problem({"DISPLAY": "remote:0"}, "linux", missing, QT)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1 and the packages that provide " \
        "libunheard.so.7 (apt-file" in message
    assert QT / "plugins/platforms/libqxcb.so" in asked and QT / "lib/libQt6Gui.so.6" in asked


def test_a_display_with_everything_present_or_a_chosen_platform_passes():
    assert display_problem({"DISPLAY": "remote:0"}, "linux", _nothing_missing, QT) is None
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
