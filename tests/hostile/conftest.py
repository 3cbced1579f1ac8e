"""Helpers for the hostile-input suite: time limits that fail instead of hanging, peak memory."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """Run ``work`` on a thread; fail the test (instead of hanging the suite) if it takes longer
    than ``seconds``; re-raise what it raised, else return its result."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"still running after {seconds} s (it hangs)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def peak_memory_mb(setup: str, work: str, timeout: float = 60) -> tuple[float, str]:
    """Run ``setup`` then ``work`` in a fresh Python; return (how many MB ``work`` added to the
    process's peak resident memory, what it printed)."""
    program = (f"import resource\n{setup}\n"
               "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
               f"{work}\n"
               "print('PEAK', (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    return float(lines[-1].split()[1]), "\n".join(lines[:-1])


def one_line_error(err: str) -> str:
    """The CLI's stderr, checked to be one line with no traceback; returns it."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "error" in lines[0], err
    return lines[0]
