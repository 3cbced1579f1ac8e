"""Channel numbers as people type them ("0-7", "3, 9, 12"): one syntax for the CLI and the window.

Plain Python (no torch), so the window can check what was typed before asking the engine.
"""

from __future__ import annotations

from .errors import OptionError


def parse_channels(text: str, count: int | None = None, most: int = 16) -> tuple[int, ...]:
    """Channel numbers from "0-7", "3, 9, 12" or a mix, in order without repeats: 1 to ``most`` of
    them, each below ``count`` when it is known. One syntax for the CLI and the window."""
    chosen: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        low, dash, high = part.partition("-")
        if len(part) > 24 or not (low.isdigit() and (not dash or high.isdigit())):
            raise OptionError(f"'{part}' is not a channel number or a range like 0-7.")
        if dash and int(high) - int(low) > 10 * most:
            raise OptionError(f"Give 1 to {most} channels, e.g. 0-7 or 3,9,12.")
        chosen += list(range(int(low), int(high) + 1)) if dash else [int(low)]
    chosen = list(dict.fromkeys(chosen))
    if not 1 <= len(chosen) <= most:
        raise OptionError(f"Give 1 to {most} channels, e.g. 0-7 or 3,9,12.")
    if count is not None and max(chosen) >= count:
        raise OptionError(f"This layer has {count} channels (0 to {count - 1}).")
    return tuple(chosen)
