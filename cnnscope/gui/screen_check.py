"""Can the window open here? Checked before Qt is imported, because Qt aborts the process (exit
134, a message about a platform plugin) when there is no display or its X11 libraries are
missing. This module imports nothing of Qt: it reads the environment and asks ``ldd`` which
libraries Qt's platform plugin cannot find, then says what to install, in one message."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# Debian / Ubuntu package of each library Qt's window system needs that a minimal system may lack.
PACKAGES = {
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libwayland-client.so.0": "libwayland-client0", "libwayland-cursor.so.0": "libwayland-cursor0",
    # Qt Multimedia (the camera and video input) on top of those
    "libpulse.so.0": "libpulse0", "libgssapi_krb5.so.2": "libgssapi-krb5-2",
    "libXrandr.so.2": "libxrandr2",
}
# What Qt loads for every platform, and per platform plugin (paths inside PySide6/Qt).
COMMON = ("lib/libQt6Core.so.6", "lib/libQt6Gui.so.6", "lib/libQt6Widgets.so.6")
PLUGINS = {"xcb": ("plugins/platforms/libqxcb.so", "lib/libQt6XcbQpa.so.6"),
           "wayland": ("plugins/platforms/libqwayland.so",)}
HEADLESS = ("Without a screen, the command line does the same work: cnnscope render --image "
            "PHOTO --out FOLDER (feature maps, filters, --cam heatmaps), cnnscope compare, "
            "cnnscope train; see cnnscope --help. Or run the window on a virtual screen: "
            "xvfb-run cnnscope.")


def qt_folder() -> Path | None:
    """PySide6's Qt folder, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "Qt"
    return folder if folder.is_dir() else None


def missing_libraries(files: list[Path]) -> list[str]:
    """The libraries ``ldd`` reports "not found" for any of ``files`` (empty without ldd)."""
    ldd = shutil.which("ldd")
    missing: list[str] = []
    for path in files:
        if ldd is None or not path.exists():
            continue
        try:
            out = subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            name, _, found = line.strip().partition(" => ")
            if found.strip() == "not found" and name not in missing:
                missing.append(name)
    return missing


def x_server_answers(display: str) -> bool:
    """Whether an X server listens at ``display`` ("host:N" or "host:N.S"; no host is this
    machine): its Unix socket (or Linux's abstract socket of the same name), or TCP port 6000 + N
    on another host (an SSH-forwarded display is localhost:10)."""
    match = re.fullmatch(r"(?P<host>[^:]*):(?P<number>\d+)(?:\.\d+)?", display)
    if match is None:
        return False
    host, number = match.group("host"), int(match.group("number"))
    if host in ("", "unix"):
        path = f"/tmp/.X11-unix/X{number}"
        targets = [(socket.AF_UNIX, path), (socket.AF_UNIX, "\0" + path)]
    else:
        targets = [(socket.AF_INET, (host, 6000 + number))]
    for family, address in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.settimeout(2)
                probe.connect(address)
                return True
        except OSError:  # refused, absent, unknown host, timed out
            continue
    return False


def platform_plugin(env: Mapping[str, str]) -> str | None:
    """The platform Qt will pick on Linux: the user's choice, else Wayland or X11 by the session;
    None when there is no display at all."""
    forced = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if forced:
        return forced
    if env.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb" if env.get("DISPLAY") else None


def display_problem(env: Mapping[str, str] | None = None, system: str | None = None,
                    find_missing: Callable[[list[Path]], list[str]] = missing_libraries,
                    qt: Path | None = None,
                    answers: Callable[[str], bool] = x_server_answers) -> str | None:
    """None when the window can open here, else one message saying why not and what to do."""
    env = os.environ if env is None else env
    if not (system or sys.platform).startswith("linux"):
        return None  # Windows and macOS always have their platform plugin
    plugin = platform_plugin(env)
    if plugin is None:
        return ("The window needs a screen, and this session has none (neither DISPLAY nor "
                f"WAYLAND_DISPLAY is set). {HEADLESS}")
    if plugin == "xcb" and env.get("DISPLAY") and not answers(env["DISPLAY"]):
        return (f"The window cannot open: no X server answers at DISPLAY={env['DISPLAY']}. "
                f"{HEADLESS}")
    qt = qt or qt_folder()
    if qt is None:
        return None  # PySide6 is not where we look: let Qt say what it says
    missing = find_missing([qt / f for f in COMMON + PLUGINS.get(plugin, ())])
    if not missing:
        return None
    packages = sorted({PACKAGES[name] for name in missing if name in PACKAGES})
    unknown = [name for name in missing if name not in PACKAGES]
    install = f"sudo apt install {' '.join(packages)}" if packages else ""
    if unknown:
        install += (" and " if install else "") + \
            f"the packages that provide {', '.join(unknown)} (apt-file search tells which)"
    return (f"The window cannot open: Qt's {plugin} platform plugin needs libraries this system "
            f"lacks ({', '.join(missing)}). Install them with: {install} (Debian/Ubuntu; the "
            f"README lists every library a minimal desktop needs). {HEADLESS}")
